"""The e2e server's settings: the product's own, with a fast password hasher.

load_demo makes an account for every room (41 in Huế); with the default
PBKDF2 hasher that alone takes about a minute on a test machine.
"""

from confserver.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
