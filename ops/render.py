"""The configuration files of the services, as pure functions of the ``Settings``:
supervisord.conf (one program per service) and nginx's (the model URL in front of the
replicas)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ops.settings import BACKEND_HOST, BIN, ROOT, Settings, backend_url, dashboard_enabled
from scoring.names import PREDICTION_LOG_ENV
from scoring.tracking import artifacts_root


def _environment(s: Settings, **extra: str) -> str:
    env = {"MLFLOW_TRACKING_URI": s.tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "DASHBOARD_MODEL_URL": backend_url(s.model_port),
           "DASHBOARD_STORE": str(Path(s.store).resolve()),
           **s.extra_env, **extra}
    # supervisord reads %(name)s expansions: a literal % is written %%.
    return ",".join(f'{k}="{v}"'.replace("%", "%%") for k, v in env.items())


def _program(name: str, command: list[str], env: str, startsecs: int = 3,
             priority: int = 100) -> str:
    return "\n".join([
        f"[program:{name}]",
        "command=" + " ".join(_quote(part) for part in command),
        f"directory={ROOT}",
        f"environment={env}",
        f"priority={priority}",
        "autostart=true", "autorestart=true", f"startsecs={startsecs}", "startretries=5",
        "stopsignal=TERM", "stopwaitsecs=30", "stopasgroup=true", "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile=%(here)s/logs/{name}.log",
        "stdout_logfile_maxbytes=10MB", "stdout_logfile_backups=3", "",
    ])


def _quote(part: str) -> str:
    part = part.replace("%", "%%")
    return f'"{part}"' if any(c in part for c in " ;'") else part


def _tracking_command(s: Settings) -> list[str]:
    command = [sys.executable, "-m", "ops.tracking", "--backend-store-uri", s.tracking_uri,
               "--host", BACKEND_HOST, "--port", str(s.tracking_backend_port), "--workers", "1"]
    if s.server_name:  # MLflow answers only the Host names it knows (DNS rebinding)
        command += ["--allowed-hosts", f"{s.server_name},{s.server_name}:{s.tracking_port},"
                    f"localhost:{s.tracking_port},127.0.0.1:{s.tracking_port}"]
    if (artifacts := artifacts_root(s.tracking_uri)) is not None:
        command += ["--artifacts-destination", artifacts.as_uri()]
    return command


#: The dashboard's login module (``panel serve --auth-module``): the project's user file.
LOGIN_MODULE = ROOT / "dashboard" / "login.py"


def _dashboard_command(s: Settings) -> list[str]:
    """``panel serve`` on loopback behind nginx, with the login chosen (``Settings.login``);
    the cookie secret comes from ``PANEL_COOKIE_SECRET`` (``dashboard_secrets``)."""
    origins = {f"{s.public_name}:{s.dashboard_port}", f"localhost:{s.dashboard_port}",
               f"127.0.0.1:{s.dashboard_port}"}
    command = [str(BIN / "panel"), "serve", s.dashboard_app, "--address", BACKEND_HOST,
               "--port", str(s.dashboard_backend_port), "--liveness", "--warm",
               "--use-xheaders"]
    for origin in sorted(origins):
        command += ["--allow-websocket-origin", origin]
    if s.login == "users":
        command += ["--auth-module", str(LOGIN_MODULE)]
    elif s.login == "oidc":  # key, secret, URLs: PANEL_OAUTH_* in the environment
        command += ["--oauth-provider", "generic",
                    "--oauth-redirect-uri", s.public_url(s.dashboard_port) + "/login"]
    return command


def _dashboard_environment(s: Settings, cookie_secret: str) -> str:
    extra = {"DASHBOARD_DECISIONS_URL": backend_url(s.decisions_backend_port),
             "DASHBOARD_LOGIN": s.login}
    if s.login != "none":
        extra |= {"PANEL_COOKIE_SECRET": cookie_secret,
                  "DASHBOARD_USERS_FILE": str(s.users_file),
                  "DASHBOARD_DECISIONS_KEY_FILE": str(s.dashboard_key_file)}
    return _environment(s, **extra)


def _decisions_command(s: Settings) -> list[str]:
    """One uvicorn process on loopback behind nginx (``--workers 1`` whatever
    WEB_CONCURRENCY says: the metrics are the process's; no line per request, as the model
    servers: the access log table says who read what); settings come from
    ``_decisions_environment``."""
    return [sys.executable, "-m", "uvicorn", "--factory", "decisions.app:create_app",
            "--host", "127.0.0.1", "--port", str(s.decisions_backend_port),
            "--workers", "1", "--timeout-keep-alive", "5", "--no-access-log"]


def _decisions_environment(s: Settings) -> str:
    return _environment(s, DECISIONS_DB_URL=s.decisions_db,
                        DECISIONS_MODEL_URL=backend_url(s.model_port),
                        DECISIONS_STORE=str(Path(s.store).resolve()),
                        DECISIONS_AUTH_FILE=str(s.decisions_auth),
                        DECISIONS_USERS_FILE=str(s.users_file))


def supervisord_conf(s: Settings, nginx: str, cookie_secret: str = "") -> str:
    """The supervisord.conf of the services: socket, logs and one section per program
    (it holds the dashboard's cookie secret: ``prepare`` writes it mode 600)."""
    header = "\n".join([
        "[unix_http_server]", "file=%(here)s/supervisor.sock", "chmod=0700", "",
        "[supervisord]", "logfile=%(here)s/logs/supervisord.log",
        "pidfile=%(here)s/supervisord.pid",
        "childlogdir=%(here)s/logs", f"directory={ROOT}", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", "serverurl=unix://%(here)s/supervisor.sock", "",
    ])
    env = _environment(s)
    log = str(Path(s.prediction_log).resolve()) if s.prediction_log else ""
    # mlflow server starts a job runner and six huey consumers by default (about 2 GiB) that
    # this product does not use.
    tracking_env = _environment(s, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    sections = [_program("tracking", _tracking_command(s), tracking_env, priority=100)
                ] if s.tracking_ui else []
    for name in s.replica_names:
        sections.append(_program(name, [sys.executable, "-m", "ops.launch",
                                        str(s.run / f"{name}.json")],
                                 _environment(s, **{PREDICTION_LOG_ENV: log}),
                                 startsecs=5, priority=200))
    sections.append(_program("proxy", [nginx, "-c", str(s.run / "nginx.conf"),
                                       "-p", str(s.run / "nginx")], env, priority=300))
    if dashboard_enabled(s):
        sections.append(_program("dashboard", _dashboard_command(s),
                                 _dashboard_environment(s, cookie_secret), priority=400))
    sections.append(_program("decisions", _decisions_command(s), _decisions_environment(s),
                             priority=350))
    sections.append(_program("healthcheck", [sys.executable, "-m", "ops.health",
                                             str(s.run)], env, priority=900))
    return header + "\n" + "\n".join(sections)


#: nginx's Lua modules (Debian's libnginx-mod-http-lua), which run ``ops/json_depth.lua``.
LUA_MODULES = (Path("/usr/lib/nginx/modules/ndk_http_module.so"),
               Path("/usr/lib/nginx/modules/ngx_http_lua_module.so"))
#: Largest body nginx lets through (413 beyond), by what a request needs: a scoring batch
#: of 1,000 applications with full histories is about 10 MB; one application sent to the
#: decision service with its history about 10 KB (a decision, far less).
MODEL_BODY_MAX = "16m"
DECISIONS_BODY_MAX = "256k"


def _too_large(size: str) -> str:
    """nginx's answer to a body over ``size`` (an nginx size: ``16m``)."""
    readable = f"{size[:-1]} {dict(k='KiB', m='MiB')[size[-1]]}"
    return (f"the body is larger than {readable}, more than one request needs "
            "(at most about 1,000 applications)")

#: Longest error answer nginx passes on from a model server (``ops/error_cap.lua``); a longer
#: one quoted the request (MLflow quotes a body it cannot parse) and is replaced.
ERROR_MAX_BYTES = 8192
#: Deepest JSON nesting nginx lets through to the model servers: MLflow's request formats use
#: 4 levels; Python's parser fails (a 500) near 1,000.
JSON_MAX_DEPTH = 64


def _json_guard(enabled: bool) -> tuple[str, str, str]:
    """The module, http and /invocations lines of nginx.conf for the check (empty when
    disabled)."""
    if not enabled:
        return "", "", ""
    modules = "".join(f"load_module {path};\n" for path in LUA_MODULES)
    # Debian's Lua module needs lua-resty-core, installed there.
    http = '\n    lua_package_path "/usr/share/lua/5.1/?.lua;;";'
    check = (f"set $json_max_depth {JSON_MAX_DEPTH};\n"
             f"            access_by_lua_file {ROOT / 'ops' / 'json_depth.lua'};\n"
             f"            set $error_max_bytes {ERROR_MAX_BYTES};\n"
             "            header_filter_by_lua_block { if ngx.status >= 400 then "
             "ngx.header.content_length = nil end }\n"
             f"            body_filter_by_lua_file {ROOT / 'ops' / 'error_cap.lua'};")
    return modules, http, check


#: Login attempts nginx lets through per client address: ``LOGIN_RATE`` on average, after a
#: burst of ``LOGIN_BURST``; the others get 429 (OWASP ASVS 2.2.1). A person mistyping twice
#: never meets it; a guessing loop gets ten tries a minute.
LOGIN_RATE = "10r/m"
LOGIN_BURST = 5
#: What a browser may load on the dashboard's pages: Panel's and Bokeh's scripts come from the
#: server itself, Bokeh evaluates its callbacks (``unsafe-eval``) and inlines its start-up
#: script and styles; nothing is framed, nothing leaves for another site.
DASHBOARD_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                 "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                 "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                 "base-uri 'self'; form-action 'self'")
#: The MLflow UI and the decision service's /docs load their own scripts and styles (the
#: docs from a CDN): only framing is forbidden there.
OTHER_CSP = "frame-ancestors 'none'"


def security_headers(s: Settings, csp: str) -> str:
    """nginx's ``add_header`` lines of a public door (``always``: error pages too)."""
    headers = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
               "Referrer-Policy": "same-origin", "Content-Security-Policy": csp}
    if s.tls:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return "\n".join(f'        add_header {name} "{value}" always;'
                     for name, value in headers.items())


def _listen(s: Settings, port: int) -> str:
    """A public door's listen and TLS lines."""
    if not s.tls:
        return f"        listen {s.host}:{port};"
    return "\n".join([
        f"        listen {s.host}:{port} ssl;",
        f"        ssl_certificate {Path(s.tls_cert).resolve()};",
        f"        ssl_certificate_key {Path(s.tls_key).resolve()};",
        "        ssl_protocols TLSv1.2 TLSv1.3;",
        "        ssl_session_cache shared:tls:1m;"])


_PROXY = """proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""
_WEBSOCKET = """proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;"""


def _dashboard_server(s: Settings) -> str:
    """The dashboard's door: login attempts (POST /login) throttled per address, the
    websocket passed through."""
    return f"""    upstream dashboard {{ server {BACKEND_HOST}:{s.dashboard_backend_port}; }}
    server {{
{_listen(s, s.dashboard_port)}
{security_headers(s, DASHBOARD_CSP)}
        # the health check's URL builds a document without a login: not from outside
        location = /liveness {{ return 404; }}
        location = /login {{
            limit_req zone=login burst={LOGIN_BURST} nodelay;
            {_PROXY}
            proxy_pass http://dashboard;
        }}
        location / {{
            {_PROXY}
            {_WEBSOCKET}
            proxy_pass http://dashboard;
        }}
    }}
"""


def _tracking_server(s: Settings, locked: bool) -> str:
    """The MLflow UI's door: nginx's basic auth (``tracking.htpasswd``) when ``locked``,
    requests throttled per address."""
    auth = ""
    if locked:
        auth = (f'\n            auth_basic "MLflow";\n'
                f"            auth_basic_user_file {s.tracking_htpasswd};\n"
                f"            limit_req zone=tracking burst=20 nodelay;")
    return f"""    server {{
{_listen(s, s.tracking_port)}
{security_headers(s, OTHER_CSP)}
        location / {{{auth}
            {_PROXY}
            proxy_read_timeout 120s;
            proxy_pass http://{BACKEND_HOST}:{s.tracking_backend_port};
        }}
    }}
"""


def nginx_conf(s: Settings, json_guard: bool = True, dashboard: bool = True,
               tracking_locked: bool | None = None) -> str:
    """nginx in the foreground, the one door of every service.

    The model URL (on loopback: it has no login) retries a failed request on the other
    replica: ``/invocations`` is a pure function of its input, so retrying it is safe
    (non_idempotent). ``X-Upstream`` tells which replica answered (``scoring reload`` watches
    it). With ``json_guard`` (nginx's Lua module, ``LUA_MODULES``), a body nested deeper than
    ``JSON_MAX_DEPTH`` gets a 400 from nginx instead of a 500 from MLflow's parser. The
    dashboard, the MLflow UI and the decision service bind ``Settings.host``, with TLS when a
    certificate is set, the usual security headers and throttled logins; the MLflow UI is
    ``tracking_locked`` behind nginx's basic auth (default: beyond loopback).
    """
    run = s.run
    modules, lua_http, check = _json_guard(json_guard)
    locked = not s.loopback if tracking_locked is None else tracking_locked
    tracking = _tracking_server(s, locked) if s.tracking_ui else ""
    board = _dashboard_server(s) if dashboard else ""
    return f"""# generated by `scoring up`; edits are lost at the next one
{modules}worker_processes 1;
daemon off;
pid {run}/nginx/nginx.pid;
error_log {run}/logs/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {run}/nginx/body;
    proxy_temp_path {run}/nginx/proxy;
    fastcgi_temp_path {run}/nginx/fastcgi;
    uwsgi_temp_path {run}/nginx/uwsgi;
    scgi_temp_path {run}/nginx/scgi;
    client_max_body_size {MODEL_BODY_MAX};
    # Bodies and answers stay in memory: no temp file for the worker user to write.
    client_body_buffer_size 4m;
    proxy_buffer_size 64k;
    proxy_buffers 64 64k;
    proxy_max_temp_file_size 0;{lua_http}
    # Login throttling: only POSTs count (an empty key is not limited).
    map $request_method $login_key {{ POST $binary_remote_addr; default ""; }}
    limit_req_zone $login_key zone=login:1m rate={LOGIN_RATE};
    limit_req_zone $binary_remote_addr zone=tracking:1m rate=600r/m;
    limit_req_status 429;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    include {run}/upstream.conf;
    upstream decisions {{
        server {BACKEND_HOST}:{s.decisions_backend_port} max_fails=0;
        keepalive 16;
        keepalive_timeout 4s;
    }}
    # The decision service: a decision is written once, so a request is never retried on
    # another attempt once sent (nginx's default for POST).
    server {{
{_listen(s, s.decisions_port)}
{security_headers(s, OTHER_CSP)}
        client_max_body_size {DECISIONS_BODY_MAX};
        error_page 413 = @too_large;
        location @too_large {{
            default_type application/json;
            return 413 '{{"detail": "{_too_large(DECISIONS_BODY_MAX)}"}}';
        }}
        location / {{
            proxy_pass http://decisions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 120s;
        }}
    }}
{board}{tracking}    server {{
        listen {BACKEND_HOST}:{s.model_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_read_timeout 120s;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        add_header X-Upstream $upstream_addr always;
        location = /nginx-health {{ return 200 "ok\\n"; }}
        error_page 413 = @too_large;
        location @too_large {{
            default_type application/json;
            return 413 '{{"error_code": "BAD_REQUEST", "message": "{_too_large(MODEL_BODY_MAX)}"}}';
        }}
        location = /invocations {{
            {check}
            proxy_pass http://model;
        }}
        location / {{ proxy_pass http://model; }}
    }}
}}
"""


def upstream_conf(s: Settings, primary: list[int], backup: list[int]) -> str:
    """The replica set nginx sends requests to: primaries, and backups if they all fail."""
    lines = [f"    server {BACKEND_HOST}:{port} max_fails=0;" for port in primary]
    lines += [f"    server {BACKEND_HOST}:{port} max_fails=0 backup;" for port in backup]
    # uvicorn closes idle connections after 5 s; nginx must drop them first.
    return "upstream model {\n" + "\n".join(lines) + "\n    keepalive 32;\n" \
        "    keepalive_timeout 4s;\n}\n"
