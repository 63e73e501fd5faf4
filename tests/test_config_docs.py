import tomllib
from pathlib import Path

from edge import config as cfg
from edge.cli import main
from edge.config.docs import default_toml, markdown_reference

CONFIG_DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_the_printed_default_config_loads_back_to_the_defaults(tmp_path, capsys):
    assert main(["config"]) == 0
    path = tmp_path / "maskgate.toml"
    path.write_text(capsys.readouterr().out)
    assert cfg.load(path) == cfg.load(None)
    assert tomllib.loads(default_toml())["detector"]["type"] == "yunet"


def test_the_config_reference_in_docs_is_current():
    table = markdown_reference()
    assert table in CONFIG_DOC.read_text(), "regenerate docs/configuration.md's table: maskgate config --markdown"
