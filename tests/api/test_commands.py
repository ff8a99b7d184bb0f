"""`rosvd enroll` makes the API token, `rosvd token rotate` replaces it; `rosvd serve` refusals."""
import json
import socket

from rosvd.api.settings import SETTINGS_FILE
from rosvd.api.tokens import TOKEN_FILE, token_digest
from rosvd.cli import main


def stored(home) -> str:
    return json.loads((home / TOKEN_FILE).read_text())["sha256"]


def test_enroll_prints_a_token_once_and_rotate_replaces_it(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["enroll", "--home", str(home), "--dev", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["api_token"]
    assert stored(home) == token_digest(first).hex()
    assert main(["token", "rotate", "--home", str(home)]) == 0
    captured = capsys.readouterr()
    second = captured.out.strip()
    assert second.startswith("rosvd_") and second != first and "printed once" in captured.err
    assert stored(home) == token_digest(second).hex()
    assert main(["token", "rotate", "--home", str(tmp_path / "nobody")]) == 2


def test_serve_refuses_bad_settings_and_a_busy_port(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["enroll", "--home", str(home), "--dev"]) == 0
    (home / SETTINGS_FILE).write_text(json.dumps({"rate_per_s": -1}))
    assert main(["serve", "--home", str(home), "--port", "0"]) == 2
    assert "rate_per_s must be positive" in capsys.readouterr().err
    (home / SETTINGS_FILE).unlink()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--home", str(home), "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen" in capsys.readouterr().err
    assert main(["serve", "--home", str(tmp_path / "nobody")]) == 2
