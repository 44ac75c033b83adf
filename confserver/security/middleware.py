"""One base for the project's own middleware, which must run under daphne (async) and the test client (sync)."""

from contextlib import nullcontext

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class Middleware:
    """Sync and async capable: `serving(request)` is a context manager held while the view runs, `after(request,
    response)` may change or replace the response. Subclasses override either."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        with self.serving(request):
            return self.after(request, self.get_response(request))

    async def _acall(self, request):
        with self.serving(request):
            return self.after(request, await self.get_response(request))

    def serving(self, request):
        return nullcontext()

    def after(self, request, response):
        return response
