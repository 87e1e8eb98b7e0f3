"""The scaled deployment (docker-compose.yml, Dockerfile, deploy/) agrees with the code.

There is no Docker engine where the suite runs, so the compose file is parsed and held
against what the code actually does: the environment variables settings.py reads and
requires, the ``serve`` command's port, the nginx upstream and WebSocket location. The
production checks import the real settings in a subprocess with the compose environment.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
NGINX_CONF = (ROOT / "deploy" / "nginx.conf").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()

# What production refuses to start without, given the compose file's REDIS_URL. The
# keyring may come inline or from a file; compose uses the file (a secret mount).
PRODUCTION_REQUIRED = {
    "DATABASE_URL",
    "DJANGO_SECRET_KEY",
    "CURBSIDE_CHANNEL_LAYER_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "CURBSIDE_KEYRING_FILE",
    "CURBSIDE_WS_ORIGINS",  # production never guesses its browser origins (issue 13, 9)
}
# Values that must come from the env file, never be written into docker-compose.yml.
SECRET_VARIABLES = {
    "DJANGO_SECRET_KEY",
    "CURBSIDE_CHANNEL_LAYER_KEY",
    "CURBSIDE_KEYRING",
    "POSTGRES_PASSWORD",
}


# --- helpers -----------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:\?|:-|\?|-)(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``, against ``env``."""

    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":?", "?"):
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return _INTERPOLATION.sub(one, value)


def fake_env_file() -> dict[str, str]:
    """A filled-in env file: every ``${VAR}`` the compose file mentions, with a fresh random
    value (URL-safe, long enough for Django's secret-key check)."""
    names = set(_INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
    env = {name: secrets.token_urlsafe(50) for name, _, _ in names}
    env["CURBSIDE_HOSTNAME"] = "curbside.example.org"
    env["CURBSIDE_LOG_LEVEL"] = "WARNING"
    return env


def image_services() -> dict[str, dict]:
    """Services built from the repository's Dockerfile (web processes and migrate)."""
    return {name: svc for name, svc in SERVICES.items() if "build" in svc}


def web_services() -> dict[str, dict]:
    """Image services that run the image's CMD (the server), i.e. not a one-shot command."""
    return {name: svc for name, svc in image_services().items() if "command" not in svc}


def service_env(name: str, env_file: dict[str, str]) -> dict[str, str]:
    raw = SERVICES[name].get("environment", {})
    assert isinstance(raw, dict), "use the mapping form of environment"
    return {key: interpolate(str(value), env_file) for key, value in raw.items()}


def dockerfile_cmd() -> list[str]:
    lines = [line for line in DOCKERFILE.splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1, "the Dockerfile has exactly one CMD"
    return json.loads(lines[0][4:])


def serve_port(argv: list[str]) -> int:
    assert argv[:3] == ["python", "manage.py", "serve"], argv
    return int(argv[argv.index("-p") + 1])


def source_files() -> list[Path]:
    skip = {".venv", "tests", "var", "migrations", "bench", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


_ENV_LOOKUP = re.compile(
    r"""(?:os\.environ\.get|os\.environ\.setdefault|os\.getenv|os\.environ\[|_env_bool|_env_list|_required)"""
    r"""\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def variables_read_by_code() -> set[str]:
    found: set[str] = set()
    for path in source_files():
        found |= set(_ENV_LOOKUP.findall(path.read_text()))
    return found


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # A trimmed environment: only what the test passes, so the developer's own settings
    # (DATABASE_URL, REDIS_URL, …) cannot make a broken deployment pass.
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# A tiny nginx config reader: blocks become ("name args", [children]), directives tuples.
def parse_nginx(text: str) -> list:
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r"""'[^']*'|"[^"]*"|[{};]|[^\s{};]+""", text)
    pos = 0

    def block() -> list:
        nonlocal pos
        items: list = []
        words: list[str] = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == ";":
                items.append(tuple(words))
                words = []
            elif tok == "{":
                items.append((tuple(words), block()))
                words = []
            elif tok == "}":
                return items
            else:
                words.append(tok.strip("'\""))
        return items

    return block()


def find_blocks(items: list, *head: str) -> list[list]:
    """Every block whose head starts with ``head``, at any depth."""
    out = []
    for item in items:
        if len(item) == 2 and isinstance(item[1], list):
            if item[0][: len(head)] == head:
                out.append(item[1])
            out += find_blocks(item[1], *head)
    return out


def directives(block: list, name: str) -> list[tuple]:
    return [item[1:] for item in block if not (len(item) == 2 and isinstance(item[1], list))
            and item and item[0] == name]


NGINX = parse_nginx(NGINX_CONF)


def find_upstream_name() -> str:
    heads = [item[0] for item in find_all_blocks(NGINX) if item[0][:1] == ("upstream",)]
    assert len(heads) == 1
    return heads[0][1]


def find_all_blocks(items: list) -> list:
    out = []
    for item in items:
        if len(item) == 2 and isinstance(item[1], list):
            out.append(item)
            out += find_all_blocks(item[1])
    return out


def ws_location() -> list:
    blocks = find_blocks(NGINX, "location", "/ws/")
    assert len(blocks) == 1, "exactly one `location /ws/` block"
    return blocks[0]


# --- compose ↔ settings --------------------------------------------------------------------------


def test_two_web_services_run_the_image_server():
    assert set(web_services()) == {"web1", "web2"}
    for name, svc in web_services().items():
        assert svc["build"] == ".", f"{name} is built from the repository Dockerfile"


def test_every_variable_a_web_service_sets_is_read_by_the_code():
    read = variables_read_by_code()
    # Guard the scanner itself: these are certainly read by settings.py.
    assert {"DJANGO_SECRET_KEY", "REDIS_URL", "CURBSIDE_LOG_LEVEL", "CURBSIDE_KEYRING_FILE"} <= read
    env_file = fake_env_file()
    for name in image_services():
        unknown = set(service_env(name, env_file)) - read
        assert not unknown, f"{name} sets variables nothing reads (typo?): {sorted(unknown)}"


def test_every_variable_settings_requires_is_set_for_each_web_service():
    tree = ast.parse((ROOT / "settings.py").read_text())
    required_calls = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_required"
    }
    assert required_calls <= PRODUCTION_REQUIRED, "settings.py requires a variable this test lacks"
    env_file = fake_env_file()
    for name in web_services():
        env = service_env(name, env_file)
        assert env["CURBSIDE_ENV"] == "production"
        assert PRODUCTION_REQUIRED <= set(env), f"{name} lacks {PRODUCTION_REQUIRED - set(env)}"
        assert env["REDIS_URL"] and env["DATABASE_URL"].startswith("postgres://")
        assert env["CURBSIDE_WS_ORIGINS"] == f"https://{env['DJANGO_ALLOWED_HOSTS']}"


def test_web_services_share_one_environment():
    env_file = fake_env_file()
    envs = [service_env(name, env_file) for name in image_services()]
    assert all(env == envs[0] for env in envs), "web1, web2 and migrate must agree"


def test_secrets_are_interpolated_never_written_into_the_file():
    for svc in SERVICES.values():
        for key, value in (svc.get("environment") or {}).items():
            if key in SECRET_VARIABLES:
                assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", str(value)), (
                    f"{key} must be `${{{key}:?…}}`, got {value!r}"
                )
    db_url = SERVICES["web1"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in db_url
    # The keyring travels as a secret file, not as an environment value.
    assert SERVICES["web1"]["environment"]["CURBSIDE_KEYRING_FILE"].startswith("/run/secrets/")
    secret = SERVICES["web1"]["environment"]["CURBSIDE_KEYRING_FILE"].rsplit("/", 1)[1]
    assert secret in COMPOSE["secrets"] and secret in SERVICES["web1"]["secrets"]
    with pytest.raises(KeyError, match="DJANGO_SECRET_KEY"):
        service_env("web1", {k: v for k, v in fake_env_file().items() if k != "DJANGO_SECRET_KEY"})


def test_database_and_redis_urls_name_services_of_this_file():
    env_file = fake_env_file()
    env = service_env("web1", env_file)
    db = urlsplit(env["DATABASE_URL"])
    assert db.hostname == "postgres" and db.port == 5432
    pg = {k: interpolate(str(v), env_file) for k, v in SERVICES["postgres"]["environment"].items()}
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    )
    assert SERVICES["postgres"]["image"].split(":")[1].startswith("16")
    redis = urlsplit(env["REDIS_URL"])
    assert redis.hostname == "redis" and redis.port == 6379
    assert SERVICES["redis"]["image"].split(":")[1].startswith("7")
    for name in ("postgres", "redis"):
        assert "healthcheck" in SERVICES[name]


def test_web_services_wait_for_migrations_and_healthy_backends():
    assert SERVICES["migrate"]["restart"] == "no"
    assert "migrate --noinput" in " ".join(SERVICES["migrate"]["command"])
    for name, svc in web_services().items():
        deps = svc["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_only_nginx_is_reachable_from_outside():
    # The Dockerfile's --proxy-headers trusts X-Forwarded-For: only nginx may reach daphne.
    published = {name for name, svc in SERVICES.items() if svc.get("ports")}
    assert published == {"nginx"}
    assert COMPOSE["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis", *image_services()):
        assert SERVICES[name]["networks"] == ["backend"], name


# --- Dockerfile ↔ serve ↔ nginx --------------------------------------------------------------------


def test_dockerfile_builds_python_311_slim_and_runs_serve():
    assert re.search(r"^FROM python:3\.11-slim\s*$", DOCKERFILE, re.M)
    assert re.search(r"^RUN pip install \.\s*$", DOCKERFILE, re.M)
    cmd = dockerfile_cmd()
    assert cmd[:7] == ["python", "manage.py", "serve", "-b", "0.0.0.0", "-p", "8000"]
    # `serve` is the command that exists and hands daphne the frame limit.
    serve = (ROOT / "gateway" / "management" / "commands" / "serve.py").read_text()
    assert "--websocket-max-message-size" in serve


def test_dockerignore_keeps_development_keys_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"var", ".venv", ".git"} <= set(ignored)


def test_nginx_upstream_is_exactly_the_web_services_on_the_serve_port():
    port = serve_port(dockerfile_cmd())
    upstreams = find_blocks(NGINX, "upstream")
    assert len(upstreams) == 1
    servers = {args[0] for args in directives(upstreams[0], "server")}
    assert servers == {f"{name}:{port}" for name in web_services()}
    for svc in web_services().values():
        assert svc["healthcheck"]["test"][-1] == str(port)


def test_every_proxied_location_goes_to_the_upstream_with_forwarding_headers():
    upstream_name = find_upstream_name()
    locations = find_blocks(NGINX, "location")
    proxied = [loc for loc in locations if directives(loc, "proxy_pass")]
    assert len(proxied) >= 2
    for loc in proxied:
        assert directives(loc, "proxy_pass") == [(f"http://{upstream_name}",)]
        headers = {args[0]: args[1] for args in directives(loc, "proxy_set_header")}
        # nginx drops inherited proxy_set_header in a location that sets any of its own.
        assert headers["X-Forwarded-Proto"] == "$scheme"  # settings: SECURE_PROXY_SSL_HEADER
        assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
        assert headers["Host"] == "$host"  # DJANGO_ALLOWED_HOSTS checks it


def test_ws_location_upgrades_the_connection_and_keeps_it_open():
    loc = ws_location()
    assert directives(loc, "proxy_http_version") == [("1.1",)]
    headers = {args[0]: args[1] for args in directives(loc, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade"
    connection = headers["Connection"]
    if connection.startswith("$"):
        # A map variable: a request carrying Upgrade must map to "upgrade".
        maps = [block for head, block in find_all_blocks(NGINX) if head[:1] == ("map",)
                and head[2] == connection]
        assert len(maps) == 1 and ("default", "upgrade") in maps[0]
    else:
        assert connection.lower() == "upgrade"
    # Well beyond three missed heartbeats (settings: CURBSIDE_HEARTBEAT_S = 25), else
    # nginx cuts a quiet socket after its 60 s default.
    (timeout,) = directives(loc, "proxy_read_timeout")[0]
    assert int(timeout.rstrip("s")) >= 600


def all_directives(name: str) -> list[tuple]:
    """Arguments of every ``name`` directive, at any depth of nginx.conf."""
    found = directives(NGINX, name)
    for _, block in find_all_blocks(NGINX):
        found += directives(block, name)
    return found


def test_access_log_leaves_out_query_strings_cookies_and_bodies():
    formats = {args[0]: " ".join(args[1:]) for args in all_directives("log_format")}
    assert formats, "a log_format without $request (tickets ride in the query string)"
    # $request and $request_uri carry the query string; the rest carry secrets or bodies.
    leak = re.compile(
        r"\$\{?(request|request_uri|args|query_string|http_cookie|cookie_\w+|http_authorization"
        r"|request_body|arg_\w+)(?![A-Za-z0-9_])"
    )
    for name, fmt in formats.items():
        found = leak.search(fmt)
        assert found is None, f"log_format {name} logs {found and found[0]}"
    access_logs = all_directives("access_log")
    assert access_logs, "without access_log nginx uses the `combined` format, which logs $request"
    for args in access_logs:
        assert args[0] == "off" or (len(args) > 1 and args[1] in formats), args


def test_nginx_accepts_the_largest_attachment():
    from django.conf import settings

    (found,) = all_directives("client_max_body_size")
    value = found[0].lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    size = int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)
    assert size >= settings.CURBSIDE_LIMITS["attachment_bytes"]


# --- the real settings under the compose environment -------------------------------------------


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """web1's environment from the compose file, with a filled-in env file; the keyring
    secret mount replaced by a real keyring file and /app/var by a temporary directory."""
    from crypto.keyring import Keyring, write_keyring

    keyring = tmp_path / "keyring.json"
    write_keyring(Keyring.generate(), keyring)
    env = service_env("web1", fake_env_file())
    env["CURBSIDE_KEYRING_FILE"] = str(keyring)
    env["CURBSIDE_VAR_DIR"] = str(tmp_path / "var")
    return env


def test_compose_environment_starts_production_settings(production_env):
    result = run_python(["-c", "import settings; print(settings.CHANNEL_LAYER_NAME)"], production_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis"


@pytest.mark.parametrize("missing", sorted(PRODUCTION_REQUIRED))
def test_production_refuses_to_start_without_a_required_variable(production_env, missing):
    env = {k: v for k, v in production_env.items() if k != missing}
    result = run_python(["-c", "import settings"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_no_other_compose_variable_is_required(production_env):
    # If this fails, settings.py gained a requirement: add it to PRODUCTION_REQUIRED and
    # to the table in docs/operations.md.
    for name in sorted(set(production_env) - PRODUCTION_REQUIRED - {"CURBSIDE_ENV"}):
        env = {k: v for k, v in production_env.items() if k != name}
        result = run_python(["-c", "import settings"], env)
        assert result.returncode == 0, f"without {name}: {result.stderr[-400:]}"


def test_deploy_check_is_clean_for_the_compose_environment(production_env):
    result = run_python(["manage.py", "check", "--deploy"], production_env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


# --- health check and docs ---------------------------------------------------------------------


def _healthcheck_module():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed", "host"),
    [("curbside.example.org", "curbside.example.org"),
     (" .example.org, other.org", "example.org"),
     ("*", "localhost"),
     ("", "localhost")],
)
def test_healthcheck_sends_an_allowed_host(allowed, host):
    assert _healthcheck_module().probe_host(allowed) == host


def test_healthcheck_asks_like_nginx_and_passes_on_200(monkeypatch):
    import http.server
    import threading

    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen.append({"path": self.path, **dict(self.headers)})
            self.send_response(200 if self.path == "/api/v1/specialties" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "curbside.example.org")
        assert _healthcheck_module().main(["healthcheck.py", str(server.server_port)]) == 0
    finally:
        server.shutdown()
        thread.join()
    (request,) = seen
    assert request["Host"] == "curbside.example.org"
    assert request["X-Forwarded-Proto"] == "https"


def test_healthcheck_reports_a_dead_server_as_unhealthy():
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _healthcheck_module().main(["healthcheck.py", str(port)]) == 1


def test_operations_doc_lists_every_variable_the_code_reads():
    doc = (ROOT / "docs" / "operations.md").read_text()
    missing = {name for name in variables_read_by_code() if f"`{name}`" not in doc}
    missing.discard("DJANGO_SETTINGS_MODULE")
    assert not missing, f"docs/operations.md lacks {sorted(missing)}"


# --- README: what a new operator reads first ------------------------------------------------------


def _readme_configuration_rows() -> set[str]:
    """The variables named in the first column of README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    return {name for row in re.findall(r"^\| (`[^|]+`) \|", readme, re.M)
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def test_readme_configuration_table_names_every_variable_compose_sets():
    """Issue 11, the operator's path: docker-compose.yml required CURBSIDE_ESCROW_PUBLIC_KEY
    and README's configuration table did not name it. Every variable a service of the
    compose file sets, and every one production requires, has its row."""
    rows = _readme_configuration_rows()
    assert {"DATABASE_URL", "REDIS_URL"} <= rows  # the reader itself works
    env_file = fake_env_file()
    wanted = set(PRODUCTION_REQUIRED)
    for name in image_services():
        wanted |= set(service_env(name, env_file))
    assert not wanted - rows, f"README's configuration table lacks {sorted(wanted - rows)}"


def test_readme_names_only_files_a_clone_has():
    """Issue 11, the operator's path: README pointed to a design folder outside the
    repository. Every relative link, and every repository path it quotes, exists."""
    readme = (ROOT / "README.md").read_text()
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme)
               if not re.match(r"[a-z]+:", t) and not t.startswith("#")}
    targets |= set(re.findall(r"`((?:\.\./|\./)?(?:docs|tests|tools|deploy|bench|frontend)/[^`\s:*]+)`",
                              readme))
    assert not any(t.startswith("../") for t in targets), "README points outside the repository"
    missing = sorted(t for t in targets if t and not (ROOT / t).exists())
    assert not missing, f"README names files a clone does not have: {missing}"
