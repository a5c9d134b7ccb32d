"""Log in with the real PyMySQL, as the driver-profile checks need.

Arguments: HOST PORT USER CA BLOCK_CRYPTOGRAPHY(0|1), where CA is a CA file
(verified TLS), "" (PyMySQL's default: TLS when offered, unverified) or "-"
(ssl_disabled=True).
The secret comes from the environment (CONNBROKER_TEST_SECRET), never argv.
Prints "ok" or the exception, exits 0 or 1.

BLOCK_CRYPTOGRAPHY=1 makes `import cryptography` fail in this process, which
is how PyMySQL behaves when the package is not installed (it imports it
lazily, inside the RSA step).
"""
import os
import sys

host, port, user, ca, block = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
if block:
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        del sys.modules[name]
    sys.modules["cryptography"] = None  # import cryptography -> ImportError

import pymysql  # noqa: E402

kw = {}
if ca == "-":
    kw = {"ssl_disabled": True}
elif ca:
    kw = {"ssl_ca": ca, "ssl_verify_cert": True, "ssl_verify_identity": True}
try:
    conn = pymysql.connect(host=host, port=port, user=user, password=os.environ["CONNBROKER_TEST_SECRET"],
                           connect_timeout=5, **kw)
    conn.close()
    print("ok")
except Exception as e:  # report any failure to the Go test
    print(type(e).__name__, e)
    sys.exit(1)
