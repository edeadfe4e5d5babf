"""The configuration files of the services, as pure functions of the ``Settings``:
supervisord.conf (one program per service) and nginx's (the model URL in front of the
replicas)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ops.settings import BIN, ROOT, Settings, dashboard_enabled
from scoring.names import PREDICTION_LOG_ENV
from scoring.tracking import artifacts_root


def _environment(s: Settings, **extra: str) -> str:
    env = {"MLFLOW_TRACKING_URI": s.tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "DASHBOARD_MODEL_URL": s.url(s.model_port),
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
               "--host", s.host, "--port", str(s.tracking_port), "--workers", "1"]
    if (artifacts := artifacts_root(s.tracking_uri)) is not None:
        command += ["--artifacts-destination", artifacts.as_uri()]
    return command


def _dashboard_command(s: Settings) -> list[str]:
    origin = f"{s.check_host}:{s.dashboard_port}"
    return [str(BIN / "panel"), "serve", s.dashboard_app, "--address", s.host,
            "--port", str(s.dashboard_port), "--allow-websocket-origin", origin,
            "--allow-websocket-origin", f"localhost:{s.dashboard_port}", "--liveness", "--warm"]


def _decisions_command(s: Settings) -> list[str]:
    """One uvicorn process on loopback behind nginx (``--workers 1`` whatever
    WEB_CONCURRENCY says: the metrics are the process's); settings come from
    ``_decisions_environment``."""
    return [sys.executable, "-m", "uvicorn", "--factory", "decisions.app:create_app",
            "--host", "127.0.0.1", "--port", str(s.decisions_backend_port),
            "--workers", "1", "--timeout-keep-alive", "5"]


def _decisions_environment(s: Settings) -> str:
    return _environment(s, DECISIONS_DB_URL=s.decisions_db,
                        DECISIONS_MODEL_URL=s.url(s.model_port),
                        DECISIONS_STORE=str(Path(s.store).resolve()),
                        DECISIONS_AUTH_FILE=str(s.decisions_auth))


def supervisord_conf(s: Settings, nginx: str) -> str:
    """The supervisord.conf of the services: socket, logs and one section per program."""
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
        sections.append(_program("dashboard", _dashboard_command(s), env, priority=400))
    sections.append(_program("decisions", _decisions_command(s), _decisions_environment(s),
                             priority=350))
    sections.append(_program("healthcheck", [sys.executable, "-m", "ops.health",
                                             str(s.run)], env, priority=900))
    return header + "\n" + "\n".join(sections)


#: nginx's Lua modules (Debian's libnginx-mod-http-lua), which run ``ops/json_depth.lua``.
LUA_MODULES = (Path("/usr/lib/nginx/modules/ndk_http_module.so"),
               Path("/usr/lib/nginx/modules/ngx_http_lua_module.so"))
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
             f"            access_by_lua_file {ROOT / 'ops' / 'json_depth.lua'};")
    return modules, http, check


def nginx_conf(s: Settings, json_guard: bool = True) -> str:
    """nginx in the foreground: the model URL, retrying a failed request on the other replica,
    and the decision service's URL.

    ``/invocations`` is a pure function of its input, so retrying it is safe (non_idempotent).
    ``X-Upstream`` tells which replica answered (``scoring reload`` watches it). With
    ``json_guard`` (nginx's Lua module, ``LUA_MODULES``), a body nested deeper than
    ``JSON_MAX_DEPTH`` gets a 400 from nginx instead of a 500 from MLflow's parser.
    """
    run = s.run
    modules, lua_http, check = _json_guard(json_guard)
    return f"""# generated by `scoring up`; edits are lost at the next one
{modules}worker_processes 1;
daemon off;
pid {run}/nginx/nginx.pid;
error_log {run}/logs/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/nginx/body;
    proxy_temp_path {run}/nginx/proxy;
    fastcgi_temp_path {run}/nginx/fastcgi;
    uwsgi_temp_path {run}/nginx/uwsgi;
    scgi_temp_path {run}/nginx/scgi;
    client_max_body_size 64m;
    # Bodies and answers stay in memory: no temp file for the worker user to write.
    client_body_buffer_size 4m;
    proxy_buffer_size 64k;
    proxy_buffers 64 64k;
    proxy_max_temp_file_size 0;{lua_http}
    include {run}/upstream.conf;
    upstream decisions {{
        server 127.0.0.1:{s.decisions_backend_port} max_fails=0;
        keepalive 16;
        keepalive_timeout 4s;
    }}
    # The decision service: a decision is written once, so a request is never retried on
    # another attempt once sent (nginx's default for POST).
    server {{
        listen {s.host}:{s.decisions_port};
        location / {{
            proxy_pass http://decisions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 120s;
        }}
    }}
    server {{
        listen {s.host}:{s.model_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_read_timeout 120s;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        add_header X-Upstream $upstream_addr always;
        location = /nginx-health {{ return 200 "ok\\n"; }}
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
    lines = [f"    server {s.check_host}:{port} max_fails=0;" for port in primary]
    lines += [f"    server {s.check_host}:{port} max_fails=0 backup;" for port in backup]
    # uvicorn closes idle connections after 5 s; nginx must drop them first.
    return "upstream model {\n" + "\n".join(lines) + "\n    keepalive 32;\n" \
        "    keepalive_timeout 4s;\n}\n"
