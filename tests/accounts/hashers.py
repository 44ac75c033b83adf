"""A real password hasher that counts how often it hashed (tests assert throttled attempts hash nothing);
DELAY_S makes each hash take that long, as a real one does, so parallel attempts overlap."""

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher

CALLS = {"n": 0}
DELAY_S = {"s": 0.0}
_lock = threading.Lock()


class CountingHasher(MD5PasswordHasher):
    algorithm = "counting_md5"

    def encode(self, password, salt):
        with _lock:
            CALLS["n"] += 1
        time.sleep(DELAY_S["s"])
        return super().encode(password, salt)
