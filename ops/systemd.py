"""systemd units for a single server: ``scoring systemd --out DIR``.

``credit-scoring.service`` runs ``scoring up --foreground`` (supervisord in the foreground, so
systemd watches it and restarts it; supervisord watches the programs). ``systemctl reload``
runs ``scoring reload``. ``credit-scoring-drift.timer`` runs the drift report of the
prediction log against the training clients once a day.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from ops.settings import ROOT, Settings


def units(s: Settings, user: str | None = None) -> dict[str, str]:
    """File name -> text of each unit."""
    scoring = Path(sys.executable).parent / "scoring"
    user = user or getpass.getuser()
    run = s.run
    env = (f"Environment=MLFLOW_TRACKING_URI={s.tracking_uri}\n"
           "Environment=MLFLOW_DISABLE_TELEMETRY=true\n")
    up = (f"{scoring} up --foreground --run-dir {run} --host {s.host} "
          f"--tracking-port {s.tracking_port} --model-port {s.model_port} "
          f"--dashboard-port {s.dashboard_port} --store {s.store} "
          f"--prediction-log \"{s.prediction_log or ''}\" --workers {s.workers} "
          f"--model-nice {s.model_nice} --login {s.login}")
    for option, value in (("--tls-cert", s.tls_cert), ("--tls-key", s.tls_key),
                          ("--server-name", s.server_name)):
        up += f" {option} {value}" if value else ""
    return {
        "credit-scoring.service": f"""[Unit]
Description=Credit scoring: tracking UI, model server behind nginx, dashboard (supervisord)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
WorkingDirectory={ROOT}
{env}ExecStart={up}
ExecReload={scoring} reload --run-dir {run}
KillMode=mixed
TimeoutStopSec=90
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
""",
        "credit-scoring-drift.service": f"""[Unit]
Description=Credit scoring: daily data-drift report of the scored applications

[Service]
Type=oneshot
User={user}
WorkingDirectory={ROOT}
{env}ExecStart={scoring} drift --reference train --current log --store {s.store} \
--prediction-log {s.prediction_log or 'data/predictions'}
""",
        "credit-scoring-drift.timer": """[Unit]
Description=Run the credit-scoring drift report daily

[Timer]
OnCalendar=daily
Persistent=true

[Install]
WantedBy=timers.target
""",
    }


def write_units(s: Settings, out: Path, user: str | None = None) -> list[Path]:
    """Write the units into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in units(s, user).items():
        (out / name).write_text(text)
        paths.append(out / name)
    return paths
