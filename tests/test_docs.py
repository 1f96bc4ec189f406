"""The README's experiment-file reference is generated from the schema and must match it."""

from __future__ import annotations

from pathlib import Path

from gdcli.experiments.config import SCHEMAS
from gdcli.render.reference import BEGIN, END, markdown, rows

README = Path(__file__).resolve().parent.parent / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def test_readme_reference_is_the_generated_one() -> None:
    assert _section() == markdown(), (
        "run `python -m gdcli.render.reference` to regenerate README.md"
    )


def test_reference_lists_every_key_the_schema_accepts() -> None:
    section = _section()
    for command, model in SCHEMAS.items():
        schema = model.model_json_schema()
        for path, *_ in rows(schema):
            assert f"`{path}`" in section, f"{command}: {path} missing from README"
        # and every optimizer hyperparameter, in the optimizers' own tables
        for name, sub in schema.get("$defs", {}).items():
            if name.endswith("Optimizer") or name.endswith("Schedule"):
                for key in sub["properties"]:
                    assert f"`{key}`" in section or key == "name", f"{name}.{key} missing"


def test_reference_names_real_defaults() -> None:
    section = _section()
    assert "| `iterations` | integer | 10000 |" in section
    assert "| `tolerance` | number | 1e-06 |" in section
    assert "`name: adam`" in section
