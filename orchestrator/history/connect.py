"""Where the history database is and opening it: --db / ORCH_DB / the default file, the checks
that say in one line why it cannot be used (folder, permissions, a file that is no SQLite
database, a missing PostgreSQL driver), and one SQLAlchemy engine per URL, migrated on first
use.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event

from orchestrator.errors import OrchError
from orchestrator.history.schema import migrate

ENV_VAR = "ORCH_DB"


DEFAULT_FILENAME = "history.sqlite3"


# --- connecting ------------------------------------------------------------------------------
def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("orch", appauthor=False)) / DEFAULT_FILENAME


def _named_db(db: str | None, source: str | None = None) -> tuple[str | None, str]:
    """(the database the user named, where they named it): --db, else ORCH_DB; (None, …)
    for the default location."""
    if db:
        return db, source or "--db"
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR], ENV_VAR
    return None, "default"


def _sqlite_file(db: str) -> Path | None:
    """The file of a SQLite database (a path or sqlite:///path); None for in-memory and server URLs."""
    if "://" not in db:
        return Path(db).expanduser()
    if db.startswith("sqlite:///") and db not in ("sqlite:///", "sqlite:///:memory:"):
        return Path(db[len("sqlite:///") :].split("?", 1)[0]).expanduser()
    return None


def db_problem(db: str | None = None, *, write: bool, source: str | None = None) -> str | None:
    """Why the history database named by --db (or ORCH_DB) cannot be used, in one line, or
    None. orch creates a database file, never the folders above it (a typo in the path
    would silently start a new history somewhere): the folder must exist. Reading (history,
    report) also needs the file to be there. The default location is orch's own: its folder
    is made when needed. An existing file must be a SQLite database (its header). A server
    URL needs its driver installed (postgresql://: psycopg, the `postgres` extra); the server
    itself is checked when connecting (open_problem)."""
    named, where = _named_db(db, source)
    if named is None:
        return None
    shown = f"{where} {redact(named)}" if where != ENV_VAR else f"{ENV_VAR}={redact(named)}"
    path = _sqlite_file(named)
    if path is None:
        return _driver_problem(named, shown)
    if path.is_dir():
        return f"history database {shown} is a folder, not a file"
    folder = path.absolute().parent
    if not folder.is_dir():
        return (
            f"history database {shown}: folder {folder} does not exist (orch creates the "
            "database file, not its folder: create it, or give another path)"
        )
    if not path.exists():
        if not write:
            return f"no history database at {shown} (nothing has been stored there)"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"history database {shown}: cannot create a file in {folder} (permission denied)"
    elif not os.access(path, os.R_OK | (os.W_OK if write else 0)):
        return f"history database {shown}: permission denied"
    elif not _looks_like_sqlite(path):
        return f"history database {shown} is not a SQLite database (the file does not start with SQLite's header)"
    return None


SQLITE_HEADER = b"SQLite format 3\x00"


def _looks_like_sqlite(path: Path) -> bool:
    """An empty file is one SQLite makes a database of; anything else starts with its header."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return True  # the permission checks above speak for it
    return head in (b"", SQLITE_HEADER)


# how to install the PostgreSQL driver
POSTGRES_EXTRA = "pip install -e '.[postgres]' in the orch checkout (the extra installs psycopg)"


def _driver_problem(url: str, shown: str) -> str | None:
    """Why a server URL cannot be used here before any connection is tried: its driver is
    not installed. None for URLs whose driver is there (or not one orch knows)."""
    scheme = url.split("://", 1)[0].lower()
    base, _, driver = scheme.partition("+")
    if base not in ("postgres", "postgresql"):
        return None
    wanted = [driver] if driver else ["psycopg", "psycopg2"]
    if any(_module_exists(m) for m in wanted):
        return None
    return f"history database {shown}: the PostgreSQL driver ({' or '.join(wanted)}) is not installed: {POSTGRES_EXTRA}"


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def open_problem(db: str | None = None, source: str | None = None) -> str | None:
    """Why the database cannot be opened and brought up to this orch's schema, in one line,
    or None: what db_problem cannot tell without connecting (a damaged file, a server that
    refuses). Opening it creates the file, so a command calls this when it is about to run."""
    named, where = _named_db(db, source)
    if named is None:
        shown = "the default history database"
    elif where == ENV_VAR:
        shown = f"history database {ENV_VAR}={redact(named)}"
    else:
        shown = f"history database {where} {redact(named)}"
    try:
        damage = _sqlite_damage(get_db_engine(db))
    except OrchError as exc:
        return exc.message
    except Exception as exc:  # the driver's own error: the one line it gives
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"cannot open {shown}: {first[0] if first else type(exc).__name__}"
    return f"cannot use {shown}: it is damaged ({damage})" if damage else None


def usable_problem(db: str | None = None, source: str | None = None) -> str | None:
    """Why a command that stores cannot store in this database, in one line, or None: the
    checks of db_problem, then opening it (open_problem). Called when the command is about to
    start its first worker, as soak does: a row that cannot be stored is refused then, not
    lost after the run."""
    return db_problem(db, write=True, source=source) or open_problem(db, source)


def _sqlite_damage(db_engine: sa.Engine) -> str | None:
    """SQLite's own quick check of a database file (a truncated file can open and still lose
    every row written to it), or None when it passes or the database is not SQLite."""
    if db_engine.dialect.name != "sqlite":
        return None
    with db_engine.connect() as conn:
        found = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check(3)")]
    return None if found == ["ok"] else "; ".join(str(f) for f in found)[:200]


def resolve_url(db: str | None = None) -> str:
    """A SQLAlchemy URL from --db / ORCH_DB / the default file. Only the default file's
    folder is created; a named file's folder must exist (db_problem), else OrchError."""
    named, _where = _named_db(db)
    if named is None:
        path = default_db_path().expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" not in named:  # a file path
        why = db_problem(db, write=True)
        if why:
            raise OrchError(why)
        return f"sqlite:///{Path(named).expanduser().resolve()}"
    url = named
    if re.match(r"^(postgres|postgresql)://", url):
        # SQLAlchemy's default driver for postgresql:// is psycopg2; prefer psycopg 3 when present
        driver = _pg_driver()
        url = re.sub(r"^(postgres|postgresql)://", f"postgresql+{driver}://" if driver else "postgresql://", url)
    return url


def _pg_driver() -> str | None:
    for name, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(name) is not None:
            return driver
    return None


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# the SQLAlchemy engines (db_engine: the database's, never a speech engine), one per URL
_db_engines: dict[str, sa.Engine] = {}


_db_engines_lock = threading.Lock()


def _sqlite_db_engine(url: str) -> sa.Engine:
    db_engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(db_engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not url.endswith(":memory:") and url != "sqlite://":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(db_engine, "begin")
    def _on_begin(conn):
        # writers take the write lock up front: a second writer waits (busy timeout)
        # instead of failing when it tries to upgrade a read lock
        immediate = conn.get_execution_options().get("orch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return db_engine


def get_db_engine(db: str | None = None) -> sa.Engine:
    """The SQLAlchemy engine for this database, its schema brought up to date (once per process)."""
    url = resolve_url(db)
    with _db_engines_lock:
        db_engine = _db_engines.get(url)
        if db_engine is None:
            if url.startswith("sqlite"):
                db_engine = _sqlite_db_engine(url)
            else:
                db_engine = sa.create_engine(url, pool_pre_ping=True)
            migrate(db_engine)
            _db_engines[url] = db_engine
    return db_engine


def dispose_db_engines() -> None:
    with _db_engines_lock:
        for db_engine in _db_engines.values():
            db_engine.dispose()
        _db_engines.clear()
