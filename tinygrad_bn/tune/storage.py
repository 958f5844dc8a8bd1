"""Study storage on SQLite (standard library): a file for durable, shareable studies,
``:memory:`` for quick ones.

Every change is one SQLite transaction.  Writers take the write lock up front
(``BEGIN IMMEDIATE``) so read-then-write steps such as "allocate the next trial index"
cannot interleave between processes; the file is in WAL mode (readers never block the
writer) with a busy timeout, so several drivers may work on one study at once.  WAL
needs a local file system (not NFS).

Only the driver writes: workers run trials and hand results back, so a killed worker or
driver can never leave a half-written record.  A trial that was ``running`` under a
driver that died is put back to ``waiting`` (same index, same parameters) and runs again;
completed trials are never re-run.
"""
import json
import math
import os
import socket
import sqlite3
import threading
import time

__all__ = ["Storage", "StorageError", "parse_storage", "TrialRecord", "STATES"]

STATES = ("waiting", "running", "complete", "pruned", "failed")
FINISHED = ("complete", "pruned", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    space TEXT NOT NULL,
    seed INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    round INTEGER NOT NULL,
    space TEXT NOT NULL,
    info TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (study_id, round)
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    round INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    intermediate TEXT NOT NULL DEFAULT '{}',
    attrs TEXT NOT NULL DEFAULT '{}',
    start REAL,
    end REAL,
    error TEXT,
    owner TEXT,
    heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (study_id, number),
    UNIQUE (study_id, round, idx)
);
CREATE INDEX IF NOT EXISTS trials_state ON trials (study_id, state);
"""


#: ``PRAGMA application_id`` of a study database ("tgbn"): tells it from other SQLite files
APPLICATION_ID = 0x7467626E

_REQUIRED_COLUMNS = {
    "studies": {"id", "name", "direction", "space", "seed", "created"},
    "rounds": {"study_id", "round", "space", "info", "created"},
    "trials": {"id", "study_id", "number", "round", "idx", "params", "state", "value",
               "intermediate", "attrs", "start", "end", "error", "owner", "heartbeat", "attempts"},
}


class StorageError(ValueError):
    """A storage file that cannot be used: corrupt, truncated, foreign or unwritable."""


def parse_storage(storage):
    """``None``, ``':memory:'``, ``'sqlite://'`` or ``'sqlite:///:memory:'`` -> in memory;
    ``'sqlite:///rel.db'``, ``'sqlite:////abs.db'`` or a plain path -> that file."""
    if storage is None:
        return ":memory:"
    if isinstance(storage, bytes) or not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be None, 'sqlite:///path.db' or a path, got "
                        f"{type(storage).__name__} {storage!r}")
    s = os.fspath(storage)
    if not isinstance(s, str):
        raise TypeError(f"storage must be a str path, got {s!r}")
    if s in (":memory:", "sqlite://", "sqlite:///:memory:"):
        return ":memory:"
    if s.startswith("sqlite:///"):
        s = s[len("sqlite:///"):]
    elif "://" in s or s.startswith("sqlite:"):
        raise ValueError(f"unsupported storage {storage!r}: use 'sqlite:///path.db', "
                         "'sqlite:///:memory:' or None")
    if not s:
        raise ValueError(f"storage {storage!r} has no file path")
    if "\0" in s:
        raise ValueError(f"storage {storage!r}: the path contains a NUL character")
    return os.path.abspath(s)


class TrialRecord:
    """One trial as stored: what ran, with which parameters, and what came of it."""

    __slots__ = ("number", "round", "index", "params", "state", "value", "intermediate",
                 "attrs", "start", "end", "error", "attempts")

    def __init__(self, number, round, index, params, state, value=None, intermediate=None,
                 attrs=None, start=None, end=None, error=None, attempts=0):
        self.number, self.round, self.index = number, round, index
        self.params, self.state, self.value = params, state, value
        self.intermediate = intermediate or {}
        self.attrs = attrs or {}
        self.start, self.end, self.error, self.attempts = start, end, error, attempts

    @property
    def duration(self):
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def user_attrs(self):
        return self.attrs

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other):
        return isinstance(other, TrialRecord) and self.to_dict() == other.to_dict()

    def __repr__(self):
        v = "None" if self.value is None else f"{self.value:.6g}"
        return (f"TrialRecord(number={self.number}, round={self.round}, state={self.state!r}, "
                f"value={v}, params={self.params!r})")


def _row_to_record(row):
    (number, rnd, idx, params, state, value, inter, attrs, start, end, error, attempts) = row
    intermediate = {int(k): v for k, v in json.loads(inter).items()}
    return TrialRecord(number, rnd, idx, json.loads(params), state, value,
                       dict(sorted(intermediate.items())), json.loads(attrs), start, end,
                       error, attempts)


_COLS = "number, round, idx, params, state, value, intermediate, attrs, start, end, error, attempts"


def _json_value(v):
    # JSON has no NaN/inf in the standard; store them as None
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Storage:
    """A connection to one SQLite database (a file or ``:memory:``), safe across threads
    of this process (one connection under a lock) and across processes (transactions)."""

    def __init__(self, storage=None, timeout=60.0):
        self.path = parse_storage(storage)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"Storage: timeout must be a finite number of seconds > 0, got {timeout!r}")
        self.in_memory = self.path == ":memory:"
        if not self.in_memory:
            self._check_path()
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            if "unable to open" in str(exc):
                raise PermissionError(f"storage {self.path!r} cannot be created or opened for "
                                      f"writing (SQLite: {exc})") from exc
            raise StorageError(f"storage {self.path!r} cannot be opened: {exc}") from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if not self.in_memory:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._init_schema()
        except sqlite3.Error as exc:
            self._conn.close()
            msg = str(exc)
            if "readonly" in msg or "unable to open" in msg:
                raise PermissionError(f"storage {self.path!r} is not writable (SQLite: {msg}); a "
                                      "study needs write access to the file and its directory") from exc
            raise StorageError(f"storage {self.path!r} is not a usable SQLite study database "
                               f"(corrupt, truncated or not SQLite): {msg}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _check_path(self):
        p = self.path
        d = os.path.dirname(p)
        if d and not os.path.isdir(d):
            raise FileNotFoundError(f"storage {p!r}: the directory {d!r} does not exist")
        if os.path.isdir(p):
            raise StorageError(f"storage {p!r} is a directory, not an SQLite file")
        if os.path.exists(p):
            if not os.path.isfile(p):
                raise StorageError(f"storage {p!r} is not a regular file")
            if not os.access(p, os.R_OK | os.W_OK):
                raise PermissionError(f"storage {p!r} is not readable and writable")
            size = os.path.getsize(p)
            if size:
                with open(p, "rb") as f:
                    head = f.read(100)
                if not head.startswith(b"SQLite format 3\0"):
                    raise StorageError(f"storage {p!r} is not an SQLite database (it holds "
                                       f"{size} bytes of something else)")
                if len(head) < 100 or size < 512:
                    raise StorageError(f"storage {p!r} is a truncated SQLite database "
                                       f"({size} bytes)")
        if not os.access(d or ".", os.W_OK):
            raise PermissionError(f"storage {p!r}: the directory {d!r} is not writable (SQLite "
                                  "keeps its journal next to the file)")

    def _init_schema(self):
        c = self._conn
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%'")}
        if app_id not in (0, APPLICATION_ID):
            raise StorageError(f"storage {self.path!r} is another application's SQLite database "
                               f"(application_id {app_id:#x}), not a tinygrad_bn study file")
        if app_id == 0 and tables:
            # a file written before the id was set: accept it only with our schema
            mine = set(_REQUIRED_COLUMNS)
            if not mine <= tables or tables - mine:
                raise StorageError(f"storage {self.path!r} is not a tinygrad_bn study database "
                                   f"(it holds the tables {sorted(tables)})")
        for table, cols in _REQUIRED_COLUMNS.items():
            if table in tables:
                have = {r[1] for r in c.execute(f"PRAGMA table_info({table})")}
                if not cols <= have:
                    raise StorageError(f"storage {self.path!r}: table {table!r} has a foreign "
                                       f"schema (missing columns {sorted(cols - have)})")
        with self.write() as cw:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    cw.execute(stmt)
            if app_id != APPLICATION_ID:
                cw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        ok = c.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise StorageError(f"storage {self.path!r} is corrupt (SQLite quick_check: {ok})")

    # -- transactions ---------------------------------------------------------------------
    class _Tx:
        def __init__(self, storage, immediate):
            self.s, self.immediate = storage, immediate

        def __enter__(self):
            self.s._lock.acquire()
            try:
                self.s._conn.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
            except sqlite3.Error as e:
                self.s._lock.release()
                raise self.s._error(e) from e
            except BaseException:
                self.s._lock.release()
                raise
            return self.s._conn

        def __exit__(self, exc_type, exc, tb):
            try:
                self.s._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            except sqlite3.Error as e:
                if exc_type is None:
                    raise self.s._error(e) from e
            finally:
                self.s._lock.release()
            if exc_type is not None and issubclass(exc_type, sqlite3.Error):
                raise self.s._error(exc) from exc
            return False

    def _error(self, exc):
        """An SQLite error met while the study runs, with the file named."""
        msg = str(exc)
        if "readonly" in msg:
            return PermissionError(f"storage {self.path!r} is not writable (SQLite: {msg})")
        return StorageError(f"storage {self.path!r}: SQLite error: {msg}")

    def write(self):
        """A write transaction holding SQLite's write lock from the start."""
        return Storage._Tx(self, True)

    def read(self):
        return Storage._Tx(self, False)

    def close(self):
        with self._lock:
            self._conn.close()

    # -- studies --------------------------------------------------------------------------
    def get_or_create_study(self, name, direction, space_json):
        """Return ``(study_id, direction, base_space_json, seed)``, creating the study if
        needed.  ``direction``/``space_json`` may be None when loading an existing study."""
        with self.write() as c:
            row = c.execute("SELECT id, direction, space, seed FROM studies WHERE name = ?",
                            (name,)).fetchone()
            if row is not None:
                return row
            if direction is None or space_json is None:
                raise KeyError(f"no study named {name!r} in {self.path}")
            cur = c.execute("INSERT INTO studies (name, direction, space, created) "
                            "VALUES (?, ?, ?, ?)", (name, direction, space_json, time.time()))
            sid = cur.lastrowid
            c.execute("INSERT INTO rounds (study_id, round, space, info, created) "
                      "VALUES (?, 0, ?, NULL, ?)", (sid, space_json, time.time()))
            return sid, direction, space_json, None

    def study_names(self):
        with self.read() as c:
            return [r[0] for r in c.execute("SELECT name FROM studies ORDER BY id")]

    def set_seed_if_unset(self, sid, seed):
        with self.write() as c:
            c.execute("UPDATE studies SET seed = ? WHERE id = ? AND seed IS NULL", (seed, sid))
            return c.execute("SELECT seed FROM studies WHERE id = ?", (sid,)).fetchone()[0]

    # -- rounds ---------------------------------------------------------------------------
    def rounds(self, sid):
        """List of ``(round, space_json, info_dict)`` in order."""
        with self.read() as c:
            rows = c.execute("SELECT round, space, info FROM rounds WHERE study_id = ? "
                             "ORDER BY round", (sid,)).fetchall()
        return [(r, s, json.loads(i) if i else {}) for r, s, i in rows]

    def add_round(self, sid, expected_round, space_json, info):
        """Add round ``expected_round``; if another driver added it first, keep theirs."""
        with self.write() as c:
            cur = c.execute("SELECT MAX(round) FROM rounds WHERE study_id = ?", (sid,)).fetchone()[0]
            if cur is not None and cur >= expected_round:
                return False
            c.execute("INSERT INTO rounds (study_id, round, space, info, created) "
                      "VALUES (?, ?, ?, ?, ?)",
                      (sid, expected_round, space_json, json.dumps(info), time.time()))
            return True

    # -- trials ---------------------------------------------------------------------------
    def claim(self, sid, rnd, n_trials, owner, make_params):
        """Claim the next trial of round ``rnd`` for ``owner``: a ``waiting`` one if any,
        else a new index while the round has fewer than ``n_trials`` trials.  Returns
        ``(number, index, params)`` or None.  One transaction: two drivers never get the
        same trial."""
        now = time.time()
        with self.write() as c:
            row = c.execute("SELECT number, idx, params FROM trials WHERE study_id = ? AND "
                            "round = ? AND state = 'waiting' ORDER BY idx LIMIT 1",
                            (sid, rnd)).fetchone()
            if row is not None:
                c.execute("UPDATE trials SET state = 'running', owner = ?, heartbeat = ?, "
                          "start = ?, attempts = attempts + 1 WHERE study_id = ? AND number = ?",
                          (owner, now, now, sid, row[0]))
                return row[0], row[1], json.loads(row[2])
            count, max_idx = c.execute("SELECT COUNT(*), MAX(idx) FROM trials WHERE "
                                       "study_id = ? AND round = ?", (sid, rnd)).fetchone()
            if count >= n_trials:
                return None
            idx = 0 if max_idx is None else max_idx + 1
            number = c.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE "
                               "study_id = ?", (sid,)).fetchone()[0]
            params = make_params(idx)
            c.execute("INSERT INTO trials (study_id, number, round, idx, params, state, start, "
                      "owner, heartbeat, attempts) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, 1)",
                      (sid, number, rnd, idx, json.dumps(params), now, owner, now))
            return number, idx, params

    def finish(self, sid, number, owner, state, value, intermediate, attrs, start, end, error):
        """Record a trial's outcome.  Only the owner that claimed it may finish it; returns
        False (and writes nothing) if the trial was meanwhile re-queued to someone else."""
        assert state in FINISHED, state
        inter = json.dumps({str(int(k)): _json_value(v) for k, v in intermediate.items()})
        with self.write() as c:
            cur = c.execute("UPDATE trials SET state = ?, value = ?, intermediate = ?, "
                            "attrs = ?, start = ?, end = ?, error = ?, owner = NULL "
                            "WHERE study_id = ? AND number = ? AND state = 'running' "
                            "AND owner = ?",
                            (state, _json_value(value), inter, json.dumps(attrs, default=str),
                             start, end, error, sid, number, owner))
            return cur.rowcount == 1

    def heartbeat(self, sid, owner):
        with self.write() as c:
            c.execute("UPDATE trials SET heartbeat = ? WHERE study_id = ? AND owner = ? AND "
                      "state = 'running'", (time.time(), sid, owner))

    def release(self, sid, owner):
        """Put this owner's running trials back to ``waiting`` (clean interruption)."""
        with self.write() as c:
            c.execute("UPDATE trials SET state = 'waiting', owner = NULL WHERE study_id = ? "
                      "AND owner = ? AND state = 'running'", (sid, owner))

    def recover_stale(self, sid, stale_after, requeue=True):
        """Running trials whose driver is gone go back to ``waiting`` (or to ``failed``).

        A driver is gone if it ran on this host and its process no longer exists, or if
        its heartbeat is older than ``stale_after`` seconds.  Returns the trial numbers."""
        host = socket.gethostname()
        now = time.time()
        recovered = []
        with self.write() as c:
            rows = c.execute("SELECT number, owner, heartbeat FROM trials WHERE study_id = ? "
                             "AND state = 'running'", (sid,)).fetchall()
            for number, owner, hb in rows:
                if _owner_dead(owner, host) or hb is None or now - hb > stale_after:
                    if requeue:
                        c.execute("UPDATE trials SET state = 'waiting', owner = NULL, "
                                  "error = ? WHERE study_id = ? AND number = ?",
                                  (f"re-queued: driver {owner} died", sid, number))
                    else:
                        c.execute("UPDATE trials SET state = 'failed', owner = NULL, end = ?, "
                                  "error = ? WHERE study_id = ? AND number = ?",
                                  (now, f"driver {owner} died while the trial ran", sid, number))
                    recovered.append(number)
        return recovered

    def running_count(self, sid, rnd, exclude_owner=None):
        """How many trials of round ``rnd`` are running under a driver other than ``exclude_owner``."""
        with self.read() as c:
            return c.execute("SELECT COUNT(*) FROM trials WHERE study_id = ? AND round = ? AND "
                             "state = 'running' AND (owner IS NULL OR owner != ?)",
                             (sid, rnd, exclude_owner or "")).fetchone()[0]

    def trials(self, sid, states=None, rnd=None):
        q = f"SELECT {_COLS} FROM trials WHERE study_id = ?"
        args = [sid]
        if states is not None:
            q += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        if rnd is not None:
            q += " AND round = ?"
            args.append(rnd)
        with self.read() as c:
            rows = c.execute(q + " ORDER BY number", args).fetchall()
        return [_row_to_record(r) for r in rows]

    def trial(self, sid, number):
        with self.read() as c:
            row = c.execute(f"SELECT {_COLS} FROM trials WHERE study_id = ? AND number = ?",
                            (sid, number)).fetchone()
        return None if row is None else _row_to_record(row)

    def peers(self, sid):
        """Intermediate values of finished trials, for pruners: ``[(index, {epoch: v})]``."""
        with self.read() as c:
            rows = c.execute("SELECT idx, intermediate FROM trials WHERE study_id = ? AND "
                             "state IN ('complete', 'pruned')", (sid,)).fetchall()
        out = []
        for idx, inter in rows:
            d = {int(k): v for k, v in json.loads(inter).items() if v is not None}
            if d:
                out.append((idx, d))
        return out


def _owner_dead(owner, host):
    """``owner`` is 'host:pid:token'.  True if it ran on this host and the pid is gone."""
    if not owner:
        return True
    try:
        ohost, pid, _ = owner.rsplit(":", 2)
        pid = int(pid)
    except ValueError:
        return True
    if ohost != host:
        return False
    if pid == os.getpid():
        return False  # this process: judged by heartbeat only
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def make_owner():
    import uuid
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
