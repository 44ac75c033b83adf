"""A real password hasher that counts how often it hashed (tests assert throttled attempts hash nothing)."""
from django.contrib.auth.hashers import MD5PasswordHasher

CALLS = {"n": 0}


class CountingHasher(MD5PasswordHasher):
    algorithm = "counting_md5"

    def encode(self, password, salt):
        CALLS["n"] += 1
        return super().encode(password, salt)
