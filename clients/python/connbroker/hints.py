"""Turn the broker's driver hints into keyword arguments for a driver.

The contract (``DriverHints`` in ``broker.proto``):

* ``params.hints.options`` are ``HintOption`` messages: the driver's exact
  keyword arguments (name and a typed string, int, bool or nested group of
  options), without the secret.
* ``params.credential.secret`` goes into the argument named
  ``params.hints.secret_option``.
* String values may contain ``{ca_file}``: the path of a file holding
  ``params.tls.ca_pem``, or of the system CA bundle when ``ca_pem`` is empty.
* String values may contain ``{tcp_option_file}``: the path of a MySQL
  option file whose ``[client]`` group forces TCP (mysqlclient's
  ``read_default_file`` for the host ``localhost``, which libmysqlclient and
  MariaDB Connector/C otherwise take to mean the Unix socket).

:func:`driver_kwargs` does all of that and is shared by every driver helper.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import ssl
import stat
import threading
from collections.abc import Iterable
from typing import Any

from connbroker.errors import HintsError
from connbroker.v1 import broker_pb2

__all__ = [
    "CA_FILE_PLACEHOLDER",
    "TCP_OPTION_FILE_PLACEHOLDER",
    "ca_file_for",
    "default_ca_file",
    "driver_kwargs",
    "options_dict",
    "system_ca_file",
    "tcp_option_file",
]

#: Placeholder in string option values for the CA bundle path.
CA_FILE_PLACEHOLDER = "{ca_file}"

#: Placeholder in string option values for an option file that forces TCP.
TCP_OPTION_FILE_PLACEHOLDER = "{tcp_option_file}"

_ca_lock = threading.Lock()
_ca_dir: str | None = None
_ca_dir_id: tuple[int, int] | None = None  # (st_dev, st_ino) of _ca_dir as made
_ca_files: dict[str, str] = {}
_ca_file_ids: dict[str, tuple[int, int]] = {}  # digest -> (st_dev, st_ino) as written


def driver_kwargs(params: broker_pb2.ConnectionParams, **overrides: Any) -> dict[str, Any]:
    """Build the driver's keyword arguments from broker params.

    Args:
        params: the ``ConnectionParams`` returned for a driver (``hints`` set).
        **overrides: keyword arguments that replace or add to the broker's
            options, applied last and taken as given (no placeholder
            substitution), e.g. ``connect_timeout=3``.

    Returns:
        A new dict: the hint options as plain Python values with ``{ca_file}``
        replaced, plus the secret under ``hints.secret_option``.

    Raises:
        HintsError: the params carry no hints, no ``secret_option``, or
            ``{ca_file}`` is used but no CA bundle can be found.
    """
    hints = params.hints
    if not params.HasField("hints") or not hints.driver:
        raise HintsError(
            f"params for endpoint {params.endpoint!r} carry no driver hints; ask with a driver, e.g. driver='pymysql'",
            operation="driver_kwargs",
        )
    if not hints.secret_option:
        raise HintsError(
            f"hints for endpoint {params.endpoint!r} (driver {hints.driver!r}) do not name secret_option",
            operation="driver_kwargs",
        )
    ca = _LazyCAFile(params.tls.ca_pem)
    kwargs = options_dict(hints.options, ca)
    kwargs[hints.secret_option] = params.credential.secret
    kwargs.update(overrides)
    return kwargs


class _LazyCAFile:
    """Resolves the ``{ca_file}`` path on first use only."""

    def __init__(self, ca_pem: str) -> None:
        """Remember the PEM (possibly empty, meaning the system bundle)."""
        self._ca_pem = ca_pem
        self._path: str | None = None

    def path(self) -> str:
        """Return the CA file path, writing the PEM file if needed."""
        if self._path is None:
            self._path = ca_file_for(self._ca_pem) if self._ca_pem else system_ca_file()
        return self._path


def options_dict(options: Iterable[broker_pb2.HintOption], ca: _LazyCAFile | None = None) -> dict[str, Any]:
    """Convert hint options to a plain dict (nested groups become dicts).

    With ``ca``, ``{ca_file}`` in string values is replaced by its path and
    ``{tcp_option_file}`` by :func:`tcp_option_file`; without, strings are
    returned as sent.
    """
    out: dict[str, Any] = {}
    for opt in options:
        kind = opt.WhichOneof("value")
        if kind == "string_value":
            s = opt.string_value
            if ca is not None and CA_FILE_PLACEHOLDER in s:
                s = s.replace(CA_FILE_PLACEHOLDER, ca.path())
            if ca is not None and TCP_OPTION_FILE_PLACEHOLDER in s:
                s = s.replace(TCP_OPTION_FILE_PLACEHOLDER, tcp_option_file())
            out[opt.name] = s
        elif kind == "int_value":
            out[opt.name] = opt.int_value
        elif kind == "bool_value":
            out[opt.name] = opt.bool_value
        elif kind == "options_value":
            out[opt.name] = options_dict(opt.options_value.options, ca)
        else:
            out[opt.name] = None  # a value type newer than this client
    return out


def _private(path: str, want: tuple[int, int] | None, is_dir: bool) -> bool:
    """Report whether ``path`` is still the private entry this process made.

    It must be the same inode (``want`` is its ``(st_dev, st_ino)``), not a
    symlink, owned by this process's effective uid, and closed to group and
    others. A directory that a /tmp cleaner removed and another user then
    recreated under the same name fails every one of these checks.
    """
    if want is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    return (
        kind_ok
        and (st.st_dev, st.st_ino) == want
        and st.st_uid == os.geteuid()
        and stat.S_IMODE(st.st_mode) & 0o077 == 0
    )


def ca_file_for(ca_pem: str) -> str:
    """Return the path of a private file holding ``ca_pem``.

    The file is written once per distinct content (keyed by SHA-256) with mode
    0600 inside a private temporary directory (mode 0700, made with
    ``tempfile.mkdtemp``) and reused afterwards. Before a file or the
    directory is reused it is checked to be the very one this process made
    (same inode, owned by us, mode 0700/0600, not a symlink): a directory
    that already exists is never trusted. If the check fails (deleted by a
    /tmp cleaner, or recreated by another user) a fresh directory is made and
    the file written again. The directory is removed when the process exits.
    """
    if not ca_pem:
        raise ValueError("ca_pem is empty; use system_ca_file() for the system trust store")
    data = ca_pem.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    global _ca_dir, _ca_dir_id
    with _ca_lock:
        if _ca_dir is None or not _private(_ca_dir, _ca_dir_id, is_dir=True):
            # Imported here, once per directory: tempfile and shutil (random,
            # bz2, lzma) would be a tenth of `import connbroker`.
            import shutil
            import tempfile

            _ca_files.clear()
            _ca_file_ids.clear()
            _ca_dir = tempfile.mkdtemp(prefix="connbroker-ca-")  # new, unpredictable, mode 0700
            st = os.lstat(_ca_dir)
            _ca_dir_id = (st.st_dev, st.st_ino)
            atexit.register(shutil.rmtree, _ca_dir, True)
        path = _ca_files.get(digest)
        if path is not None and _private(path, _ca_file_ids.get(digest), is_dir=False):
            return path
        path = os.path.join(_ca_dir, f"{digest}.pem")
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            st = os.fstat(fd)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o600)  # in case the umask was stricter or odd
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _ca_files[digest] = path
        _ca_file_ids[digest] = (st.st_dev, st.st_ino)
        return path


def tcp_option_file() -> str:
    """Return the path of a private MySQL option file that forces TCP.

    Its ``[client]`` group sets ``protocol``: ``1`` when mysqlclient is linked
    against MariaDB Connector/C (3.x reads the value as a number and ignores
    ``TCP``), else ``TCP`` (Oracle's libmysqlclient takes the name).
    """
    value = "TCP"
    try:
        from MySQLdb import _mysql  # optional: only mysqlclient reads the file

        if int(_mysql.get_client_info().split(".")[0]) < 5:
            value = "1"  # MariaDB Connector/C 3.x
    except (ImportError, ValueError):
        pass
    # The same private, once-per-content file as a CA bundle.
    return ca_file_for(f"[client]\nprotocol={value}\n")


def default_ca_file() -> str:
    """Return OpenSSL's default ``cafile`` when it exists, else ``certifi``'s if installed, else ""."""
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and os.path.isfile(cafile):
        return cafile
    try:
        import certifi  # optional dependency
    except ImportError:
        return ""
    where: str = certifi.where()
    return where if os.path.isfile(where) else ""


def system_ca_file() -> str:
    """Return the path of the system CA bundle (:func:`default_ca_file`).

    Raises:
        HintsError: no bundle file can be found.
    """
    if cafile := default_ca_file():
        return cafile
    raise HintsError(
        "the broker asked for the system CA bundle ({ca_file} with an empty tls.ca_pem), "
        "but OpenSSL has no default CA file and certifi is not installed; "
        "install the OS CA certificates (e.g. ca-certificates) or `pip install certifi`, "
        "or configure the endpoint's tls.ca in the broker",
        operation="driver_kwargs",
    )
