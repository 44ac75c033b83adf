"""The audit log (issue 13, item 3): who did what, when and from where; append-only from the application's side.

Other modules call `audit.record(action, user=..., obj=..., meeting=..., **data)`; during a request the address
and user agent come from it (confserver/audit/context.py). Sign-ins, sign-outs, failures, account and role
changes, recording views and downloads and every meeting timeline event are recorded by hooks (hooks.py).
"""


def record(action: str, **kwargs):
    """Append one event to the audit log (see confserver/audit/log.py)."""
    from .log import record as _record  # models load only once the app registry is ready

    return _record(action, **kwargs)
