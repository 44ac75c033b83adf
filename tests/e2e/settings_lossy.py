"""The e2e server's settings with a loss shim on the relay's send path (confserver/testing/lossyrelay.py): a
test makes a room's link lossy by writing the file CONFSERVER_TEST_LOSS_FILE names."""

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "confserver.testing.lossyrelay.LossyRelayConfig"]
