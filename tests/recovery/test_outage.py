"""What counts as an outage, how it is answered and logged, and the data-folder checks: fast, in this process.

The errors are real ones: a connection to a socket where no server listens, a backend terminated by
pg_terminate_backend, a statement timeout. Only this test's own extra connections are affected.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from pgserver.utils import DiskList

from mcpadmin import embedded_db
from mcpadmin.api.errors import exception_handler, json_or_html_500
from mcpadmin.db import outage


def refused_connection_error(tmp_path: Path) -> psycopg.OperationalError:
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(host=str(tmp_path), port=5432, user="postgres", dbname="postgres", connect_timeout=2)
    return raised.value


def as_django(error: psycopg.Error) -> OperationalError:
    """What Django's wrap_database_errors raises for it: its own class, the driver's error as __cause__."""
    wrapped = OperationalError(*error.args)
    wrapped.__cause__ = error
    return wrapped


@pytest.fixture
def raw_connection(db) -> psycopg.Connection:
    """A second connection to the test database, of this test alone."""
    params = connection.get_connection_params()
    conn = psycopg.connect(**params, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def reset_outage_state():
    outage.note_up()
    yield
    outage.note_up()


def test_no_server_on_the_socket_is_an_outage(tmp_path):
    error = refused_connection_error(tmp_path)
    assert error.sqlstate is None
    assert outage.is_unavailable(error)
    assert outage.is_unavailable(as_django(error))


@pytest.mark.django_db
def test_a_terminated_backend_is_an_outage(raw_connection, sql):
    pid = raw_connection.info.backend_pid
    sql("SELECT pg_terminate_backend(%s, 5000)", [pid])
    with pytest.raises(psycopg.OperationalError) as raised:
        raw_connection.execute("SELECT 1")
    assert outage.is_unavailable(raised.value)


def test_a_statement_timeout_is_not_an_outage(raw_connection):
    raw_connection.execute("SET statement_timeout = '10ms'")
    with pytest.raises(psycopg.errors.QueryCanceled) as raised:
        raw_connection.execute("SELECT pg_sleep(1)")
    assert isinstance(raised.value, psycopg.OperationalError), "an OperationalError all the same"
    assert not outage.is_unavailable(raised.value)
    assert not outage.is_unavailable(ValueError("not a database error"))


def test_an_outage_is_a_503_with_retry_after_and_the_error_shape(tmp_path):
    response = exception_handler(as_django(refused_connection_error(tmp_path)), {})
    assert response.status_code == 503
    assert response["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert response.data["error"]["code"] == "database_unavailable"
    assert set(response.data["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(("path", "content_type"), [("/api/v1/agents", "application/json"), ("/admin/", "text/plain")])
def test_an_outage_met_outside_drf_is_a_503_too(tmp_path, rf, path, content_type):
    """Django's 500 handler, called inside its except block for a failure in a middleware (a CORS preflight)."""
    try:
        raise as_django(refused_connection_error(tmp_path))
    except OperationalError:
        response = json_or_html_500(rf.get(path))
    assert response.status_code == 503
    assert response["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith(content_type)
    assert response._has_been_logged, "no 'Service Unavailable' line per request"


def test_a_statement_timeout_stays_a_server_error(raw_connection):
    raw_connection.execute("SET statement_timeout = '10ms'")
    with pytest.raises(psycopg.errors.QueryCanceled) as raised:
        raw_connection.execute("SELECT pg_sleep(1)")
    assert exception_handler(as_django(raised.value), {}) is None, "left to the 500 handler, as before"


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(tmp_path, caplog):
    error = as_django(refused_connection_error(tmp_path))
    with caplog.at_level(logging.WARNING, logger="mcpadmin.db.outage"):
        for _ in range(50):
            exception_handler(error, {})
        outage.note_up()
        outage.note_up()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("database unavailable: ")
    assert messages[1].startswith("database available again after ")
    assert not any(record.exc_info for record in caplog.records), "no traceback"


@pytest.mark.django_db
def test_health_answers_200_when_the_database_answers(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_cluster_problem_names_a_half_made_folder(tmp_path):
    folder = tmp_path / "pg"
    assert embedded_db.cluster_problem(folder) is None, "missing: initialised on the first start"
    folder.mkdir()
    assert embedded_db.cluster_problem(folder) is None, "empty: initialised on the first start"
    (folder / "PG_VERSION").write_text("18\n")
    (folder / "base" / "1").mkdir(parents=True)
    problem = embedded_db.cluster_problem(folder)
    assert "not a complete PostgreSQL cluster" in problem
    assert "global/pg_control" in problem
    assert "base/4" in problem


def test_a_complete_cluster_has_no_problem():
    pgdata = settings.DATABASES["default"].get("EMBEDDED_PGDATA")
    if not pgdata:
        pytest.skip("DATABASE_URL points at an external server")
    assert embedded_db.cluster_problem(Path(pgdata)) is None


class Users:
    """What prune_dead_users needs of pgserver's handle: its list of users, on disk."""

    def __init__(self, path: Path) -> None:
        self.global_process_id_list = DiskList(path)


def test_dead_processes_are_pruned_from_the_users_of_the_server(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        users = Users(tmp_path / ".handle_pids.json")
        users.global_process_id_list.put([dead_pid, alive.pid])
        assert embedded_db.prune_dead_users(users) == [alive.pid]
        assert users.global_process_id_list.get() == [alive.pid]
    finally:
        alive.kill()


def test_a_zombie_is_not_alive():
    """A killed postmaster stays a zombie until its parent reaps it; psutil (and so pgserver) calls it running."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    assert embedded_db.process_alive(child.pid)
    child.kill()
    try:
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            pass
        assert psutil.Process(child.pid).is_running(), "what pgserver would believe"
        assert not embedded_db.process_alive(child.pid)
    finally:
        child.wait()
