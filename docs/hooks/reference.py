"""MkDocs hook: the reference pages written from the code at build time.

- ``reference/cli.md``: the ``scoring`` command, from Typer (``cli:app``);
- ``reference/http-api.md`` and ``reference/openapi.json``: the decision service's OpenAPI,
  from ``decisions.app.create_app`` (no server started);
- ``reference/model-inputs.md``: the served model's input fields and params, from
  ``scoring.request.Application`` (the model's signature) and ``scoring.schema``;
- ``reference/python/<package>.md``: one mkdocstrings block per module found on disk;
- ``benchmarks/results.md``: the latest table of each ``benchmarks/results/*.json``, and
  ``benchmarks/index.md``: ``benchmarks/README.md`` (how to run them), one text for both;
- ``assets/screens/*.png``: the dashboard's screenshots from ``tests/artifacts``.

Nothing is written into ``docs/``: the pages exist only in the build.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

log = logging.getLogger("mkdocs.hooks.reference")

#: Packages whose modules get a Python API page (the CLI has its own page; the dashboard's
#: modules are Panel views, not an API).
PACKAGES = ("scoring", "synthetic", "training", "serving", "monitoring", "decisions", "ops")
RESULTS = ROOT / "benchmarks" / "results"
SCREENS = ROOT / "tests" / "artifacts"


def on_files(files: Files, config) -> Files:
    """Add the generated pages and the screenshots to the site's files."""
    pages = {
        "reference/cli.md": cli_page(),
        "reference/model-inputs.md": model_inputs_page(),
        "benchmarks/results.md": benchmarks_page(),
        "benchmarks/index.md": (ROOT / "benchmarks" / "README.md").read_text(),
    }
    spec = openapi()
    pages["reference/http-api.md"] = http_page(spec)
    pages["reference/openapi.json"] = json.dumps(spec, indent=2)
    for package in PACKAGES:
        pages[f"reference/python/{package}.md"] = python_page(package)
    for uri, text in pages.items():
        files.append(File.generated(config, uri, content=text))
    for png in sorted(SCREENS.glob("dashboard_*.png")):
        files.append(File.generated(config, f"assets/screens/{png.name}",
                                    abs_src_path=str(png)))
    return files


# --- the command line ----------------------------------------------------------------------

def cli_page() -> str:
    """Every ``scoring`` command with its options, as ``scoring COMMAND --help`` shows them."""
    import typer
    from typer.cli import get_docs_for_click
    from typer.main import get_command

    from cli import app

    command = get_command(app)
    ctx = typer.Context(command)
    text = get_docs_for_click(obj=command, ctx=ctx, name="scoring",
                              title="The `scoring` command")
    head, _, rest = text.partition("\n\n")
    # Click cuts each command's summary at 45 characters: a table of whole first paragraphs.
    listing, _, details = rest.partition("**Commands**:")
    details = details[details.index("\n## "):]
    rows = ["| command | what it does |", "|---|---|"]
    for name in command.list_commands(ctx):
        summary = " ".join((command.get_command(ctx, name).help or "").split("\n\n")[0].split())
        rows.append(f"| [`{name}`](#{slug('scoring ' + name)}) | {cell(summary)} |")
    intro = ("Generated from the Typer application `cli:app` when the site is built: it says "
             "what `scoring COMMAND --help` says.\n\n")
    return f"{head}\n\n{intro}{listing}**Commands**:\n\n" + "\n".join(rows) + f"\n{details}"


# --- the decision service's HTTP API -------------------------------------------------------

def openapi() -> dict:
    """The decision service's OpenAPI document; building the app starts nothing."""
    from decisions.app import create_app
    from decisions.config import Settings

    return create_app(Settings()).openapi()


def http_page(spec: dict) -> str:
    """The routes, their parameters, bodies, answers and who may call them, then the schemas."""
    schemes = spec.get("components", {}).get("securitySchemes", {})
    out = [f"# HTTP API: {spec['info']['title']}", "",
           "Generated from `decisions.app.create_app().openapi()` when the site is built; the "
           "same document is served at `/openapi.json` and browsable at `/docs` on a running "
           "service. A copy: [openapi.json](openapi.json).", "",
           spec["info"].get("description", ""), ""]
    if schemes:
        out += ["## Authentication", "", "| scheme | how | what |", "|---|---|---|"]
        for name, s in schemes.items():
            how = (f"header `{s['name']}`" if s.get("type") == "apiKey"
                   else f"HTTP {s.get('scheme', s.get('type'))}")
            out.append(f"| `{name}` | {how} | {cell(s.get('description', ''))} |")
        out.append("")
    out += ["## Routes", "", "| method | path | what | who may call |", "|---|---|---|---|"]
    operations = [(path, method, op) for path, item in spec["paths"].items()
                  for method, op in item.items()]
    for path, method, op in operations:
        anchor = slug(f"{method.upper()} {path}")
        out.append(f"| {method.upper()} | [`{path}`](#{anchor}) | {cell(op.get('summary', ''))} "
                   f"| {who(op)} |")
    out.append("")
    for path, method, op in operations:
        out += operation(path, method, op)
    out += ["## Schemas", ""]
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out += schema_section(name, schema)
    return "\n".join(out) + "\n"


def operation(path: str, method: str, op: dict) -> list[str]:
    out = [f"### {method.upper()} {path}", "", f"**{op.get('summary', '')}** · {who(op)}", "",
           op.get("description", ""), ""]
    params = op.get("parameters", [])
    if params:
        out += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            what = p.get("description") or schema.get("description", "")
            out.append(f"| `{p['name']}` | {p['in']} | {type_of(schema)} | "
                       f"{'yes' if p.get('required') else 'no'} | {cell(what)} |")
        out.append("")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out += [f"Body ({media}): {type_of(content.get('schema', {}))}", ""]
    out += ["| answer | what | body |", "|---|---|---|"]
    for code, answer in op.get("responses", {}).items():
        schemas = [type_of(c.get("schema", {})) for c in answer.get("content", {}).values()]
        out.append(f"| {code} | {cell(answer.get('description', ''))} | "
                   f"{', '.join(s for s in schemas if s) or '-'} |")
    return out + [""]


def who(op: dict) -> str:
    """The security alternatives of an operation (any one of them is enough)."""
    options = [" + ".join(f"`{name}`" for name in alt) or "anyone"
               for alt in op.get("security", [])]
    return " or ".join(options) if options else "anyone"


def schema_section(name: str, schema: dict) -> list[str]:
    out = [f"### {name}", "", schema.get("description", ""), ""]
    if schema.get("enum"):
        return out + ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    if props:
        out += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, prop in props.items():
            default = f" (default `{prop['default']}`)" if "default" in prop else ""
            out.append(f"| `{field}` | {type_of(prop)} | {'yes' if field in required else 'no'} "
                       f"| {cell(prop.get('description', ''))}{default} |")
        out.append("")
    return out


def type_of(schema: dict) -> str:
    """A JSON schema as a short type: ``integer``, ``[ScoreOut](#scoreout)``, ``array of ...``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{slug(name)})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(type_of(s) for s in schema[key])
    kind = schema.get("type", "")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict) and extra:
        return f"object of {type_of(extra)}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return kind or "any"


def slug(text: str) -> str:
    """The anchor Python-Markdown's toc gives a heading (lower case, words joined by -)."""
    import re

    text = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[-\s]+", "-", text)


def cell(text: str) -> str:
    """Text fit for one table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


# --- the served model's inputs -------------------------------------------------------------

def model_inputs_page() -> str:
    """The ``/invocations`` application fields (``scoring.request.Application``, the model's
    signature; levels from ``scoring.schema``), the history features and the params."""
    import pandas as pd

    from scoring.features import HISTORY_DESCRIPTIONS
    from scoring.request import ERROR_CODES, HISTORY, Application
    from scoring.schema import APPLICATION_TEST
    from serving.model import EXPLAIN, REASONS_SHAPES
    from training.track import input_example

    schema = Application.model_json_schema()
    required = set(schema.get("required", []))
    fields = {name: prop for name, prop in schema["properties"].items() if name != HISTORY}
    levels = {c.name: c.levels for c in APPLICATION_TEST.columns}
    _, params = input_example(pd.DataFrame(), threshold=0.0)
    out = ["# Model inputs", "",
           "Generated when the site is built from `scoring.request.Application`, the pydantic "
           "model of one application whose type hint on the model's `predict` gives the logged "
           "model its MLflow signature, and from `scoring.schema` (category levels). The "
           "request format, the answers and the errors: "
           "[Model answers and errors](model-api.md).", "",
           "A request is `{\"inputs\": [application, ...], \"params\": {...}}`. An application "
           f"holds the {len(fields)} fields of `application_test` ({len(required)} required, "
           "the others optional: an absent optional field reads as missing) and one optional "
           f"`{HISTORY}` object with up to {len(HISTORY_DESCRIPTIONS)} history features; any "
           "other field is refused.", "",
           "## Params", "", "| param | type | default |", "|---|---|---|"]
    for name, default in params.items():
        shown = ("the model's own threshold" if name == "threshold"
                 else "empty (none)" if default == "" else f"`{json.dumps(default)}`"
                 if isinstance(default, bool) else f"`{default}`")
        kind = {str: "string", int: "integer", float: "number", bool: "boolean"}[type(default)]
        out.append(f"| `{name}` | {kind} | {shown} |")
    out += ["", "`explain` is one of " + ", ".join(f"`{e}`" for e in EXPLAIN) + ".", "",
            "`variants` is the JSON text of a list of changes to the request's one "
            "application, `[{\"AMT_CREDIT\": 250000}, {\"AMT_CREDIT\": 200000, "
            "\"AMT_ANNUITY\": 12000}]`: the answer then holds one result per change (the "
            "application with that change). A change names application fields only; each "
            "value is checked as the field is, and a refusal names "
            "`params.variants[i].FIELD`.", "",
            "`recourse` (with `variants`): the answer starts with the application's own result "
            "(with its reasons), followed by one result per change (without reasons) only "
            "when the application is refused; the changes' values are then checked only when "
            "they are scored. One request gives what a decision's recourse needs.", "",
            "`reasons_shape` is one of " + ", ".join(f"`{e}`" for e in REASONS_SHAPES)
            + ": `records` gives `reasons` as a list of `{feature, label, value, "
            "contribution}`, `columns` as one object of those four keys holding lists "
            "(about half the server's CPU to encode the answer), `json` as that object's "
            "JSON text (one string: MLflow's encoder writes it in one call).", "",
            "## Error codes", "",
            "A refused request's JSON error carries one of these in `code`: "
            + ", ".join(f"`{c}`" for c in ERROR_CODES) + ".", "",
            "## Application fields", "",
            "| field | type | required | what | levels |", "|---|---|---|---|---|"]
    for name, prop in fields.items():
        kinds = [s.get("type") for s in prop.get("anyOf", [prop]) if s.get("type") != "null"]
        shown_levels = ", ".join(f"`{v}`" for v in levels.get(name, ()))
        out.append(f"| `{name}` | {' or '.join(kinds)} | {'yes' if name in required else 'no'} "
                   f"| {cell(prop.get('description', ''))} | {shown_levels} |")
    out += ["", f"## History features (`{HISTORY}`)", "",
            "Numbers keyed by feature name; leave out what is missing. "
            "`scoring.request.to_inputs` builds the `inputs` (history included) from "
            "feature-store rows.", "",
            "| feature | what |", "|---|---|"]
    for name, description in HISTORY_DESCRIPTIONS.items():
        out.append(f"| `{name}` | {cell(description)} |")
    return "\n".join(out) + "\n"


# --- the Python API ------------------------------------------------------------------------

def python_page(package: str) -> str:
    """One mkdocstrings block per module of ``package`` (whatever modules it has today)."""
    modules = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if all(p.isidentifier() for p in parts) and "alembic" not in parts:
            modules.append(".".join(parts))
    out = [f"# `{package}`", "",
           "Generated from the docstrings with mkdocstrings when the site is built.", ""]
    for module in modules:
        out += [f"::: {module}", "    options:", "      show_submodules: false", ""]
    return "\n".join(out)


# --- the benchmarks' latest figures --------------------------------------------------------

RESULT_KEYS = {"benchmark", "script", "date", "machine", "source", "notes", "rows"}


def benchmarks_page() -> str:
    """The latest table of each benchmark, with its machine and date."""
    markdown = benchmark_results().markdown
    out = ["# Benchmark results", "",
           "The latest figures of each benchmark, read from `benchmarks/results/*.json` when "
           "the site is built; a script rewrites its file at each run "
           "(`benchmarks/results.py`), so earlier figures are in git's history. How to run "
           "them: [Benchmarks](index.md).", ""]
    for path in sorted(RESULTS.glob("*.json")):
        result = read_result(path)
        m = result["machine"]
        facts = "; ".join(f"{k}: {v}" for k, v in m.items() if v not in ("", "-", None))
        out += [f"## {result['benchmark']}", "",
                f"`benchmarks/{result['script']}` · {result['date']} · {facts}", ""]
        if result.get("source"):
            out += [f"*Source: {result['source']}.*", ""]
        if result.get("notes"):
            out += [result["notes"], ""]
        out += [markdown(result["rows"]), ""]
    return "\n".join(out)


def benchmark_results():
    """``benchmarks/results.py``, loaded from its file (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_results",
                                                  ROOT / "benchmarks" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_result(path: Path) -> dict:
    """A results file, or an error naming the file and what is wrong with it."""
    try:
        result = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    missing = {"benchmark", "script", "date", "machine", "rows"} - set(result)
    if missing or not isinstance(result["rows"], list) or not result["rows"]:
        raise ValueError(f"{path}: needs {sorted(missing) or 'a non-empty list of rows'}")
    unknown = set(result) - RESULT_KEYS
    if unknown:
        log.warning("%s: unknown keys %s", path, sorted(unknown))
    return result
