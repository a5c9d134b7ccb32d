"""Log in with the real PyMySQL, as the driver-profile checks need.

Arguments: HOST PORT USER CA BLOCK, where CA is a CA file (verified TLS), ""
(PyMySQL's default: TLS when offered, unverified) or "-" (ssl_disabled=True),
and BLOCK is a comma-separated list of packages to hide ("cryptography",
"nacl"; "" hides none).
The secret comes from the environment (CONNBROKER_TEST_SECRET), never argv.
Prints "ok" or the exception, exits 0 or 1.

A hidden package makes its import fail in this process, which is how PyMySQL
behaves when it is not installed (it imports cryptography and nacl lazily,
inside the RSA and ed25519 steps).
"""
import os
import sys

host, port, user, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for pkg in [p for p in sys.argv[5].split(",") if p]:
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]
    sys.modules[pkg] = None  # import pkg -> ImportError

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
