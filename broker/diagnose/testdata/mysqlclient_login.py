"""Log in with the real mysqlclient (MySQLdb on MariaDB Connector/C).

Arguments: HOST PORT USER. The secret comes from the environment
(CONNBROKER_TEST_SECRET), never argv. Prints "ok", or "error NUMBER MESSAGE"
for a MySQLdb error, and exits 0 or 1.
"""
import os
import sys

import MySQLdb

host, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    conn = MySQLdb.connect(host=host, port=port, user=user, password=os.environ["CONNBROKER_TEST_SECRET"], connect_timeout=5)
    conn.close()
    print("ok")
except MySQLdb.Error as e:
    print("error", e.args[0], e.args[1] if len(e.args) > 1 else "")
    sys.exit(1)
