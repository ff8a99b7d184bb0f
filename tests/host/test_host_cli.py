"""The host commands as a user runs them: enroll, certify, fingerprint, epoch seal, verify-chain, status."""
import json

import blake3
import numpy as np
from PIL import Image

from rosvd.cli import main


def write_png(path, seed):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_certify_flow(tmp_path, capsys):
    home = str(tmp_path / "home")
    code, out, _ = run(capsys, "enroll", "--home", home, "--dev", "--epoch-size", "2",
                       "--vdf-iterations", "300", "--json")
    assert code == 0 and json.loads(out)["address"].startswith("0x")
    good = [str(write_png(tmp_path / f"g{i}.png", i)) for i in range(3)]
    text = tmp_path / "notes.txt"
    text.write_text("exact bytes only")
    bad = tmp_path / "bad.png"
    bad.write_bytes((tmp_path / "g0.png").read_bytes()[:100])
    code, out, err = run(capsys, "certify", "--home", home, "--json", "--quiet", *good, str(bad), str(text))
    assert code == 1                        # one input refused
    result = json.loads(out)
    assert [r["name"] for r in result["refused"]] == [str(bad)]
    assert result["refused"][0]["error"] == "CorruptContent" and "refused" in err
    names = [c["name"] for c in result["certificates"]]
    assert names == good + [str(text)]
    assert result["certificates"][-1]["fingerprint"] == "00" * 32
    assert result["certificates"][-1]["content_hash"] == blake3.blake3(b"exact bytes only").hexdigest()

    code, out, _ = run(capsys, "status", "--home", home, "--json")
    status = json.loads(out)
    assert code == 0 and status["certificates"] == 4 and status["epochs"]["closed"] == 2

    # The open epoch is empty: refused (a device's epochs are 1, 2, 3, ... each with certificates).
    code, out, err = run(capsys, "epoch", "seal", "--home", home)
    assert code == 2 and out == "" and "no certificates: nothing to seal" in err
    code, out, _ = run(capsys, "verify-chain", "--home", home, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"]
    assert report["epochs_checked"] == 2 and report["certificates_checked"] == 4


def test_certify_without_enrollment_says_what_to_run(tmp_path, capsys):
    png = write_png(tmp_path / "a.png", 0)
    code, _, err = run(capsys, "certify", "--home", str(tmp_path / "nowhere"), str(png))
    assert code == 2 and "rosvd enroll" in err


def test_enroll_without_dev_refuses_simulated_entropy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE", "a board's passphrase")  # not what is refused
    code, _, err = run(capsys, "enroll", "--home", str(tmp_path / "h"))
    assert code == 2 and "simulated" in err
    assert not (tmp_path / "h" / "config.json").exists()


def test_fingerprint_command(tmp_path, capsys):
    png = write_png(tmp_path / "a.png", 1)
    jpeg = tmp_path / "a.jpg"
    Image.open(png).save(jpeg, quality=90)
    text = tmp_path / "t.txt"
    text.write_text("hello")
    code, out, _ = run(capsys, "fingerprint", "--json", str(png), str(jpeg), str(text))
    records = json.loads(out)
    assert code == 0 and [r["kind"] for r in records] == ["image", "image", "file"]
    assert records[0]["blake3"] == blake3.blake3(png.read_bytes()).hexdigest()
    assert records[0]["blake3"] != records[1]["blake3"]
    assert len(bytes.fromhex(records[0]["fingerprint"])) == 32 and records[2]["fingerprint"] is None
    # Same picture re-encoded: the robust fingerprints stay close.
    a, b = (int(r["fingerprint"], 16) for r in records[:2])
    assert bin(a ^ b).count("1") < 256 * 0.25


def test_fingerprint_of_a_corrupt_file_fails_clearly(tmp_path, capsys):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    code, out, err = run(capsys, "fingerprint", "--json", str(bad))
    assert code == 1 and json.loads(out)[0]["error"] == "CorruptContent"




def test_entropy_assess_command(tmp_path, capfd):
    # Benchmarks and reports write their JSON at file-descriptor level: capture fds.
    capture = tmp_path / "capture.bin"
    np.random.default_rng(3).integers(0, 2, 50_000, dtype=np.uint8).tofile(capture)
    code, out, _ = run(capfd, "entropy", "assess", str(capture), "--json")
    report = json.loads(out)
    assert code == 0 and report["samples"] == 50_000 and 0.5 < report["min_entropy_per_sample"] <= 1.0
    capture.write_bytes(b"0101")
    code, _, err = run(capfd, "entropy", "assess", str(capture))
    assert code == 2 and "outside 0..1" in err


def test_certifying_a_file_again_says_so_and_returns_its_certificate(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert run(capsys, "enroll", "--home", home, "--dev")[0] == 0
    image = str(write_png(tmp_path / "g.png", 0))
    code, out, _ = run(capsys, "certify", "--home", home, "--json", "--quiet", image)
    (first,) = json.loads(out)["certificates"]
    assert code == 0 and first["existing"] is False
    code, out, err = run(capsys, "certify", "--home", home, "--quiet", image)
    assert code == 0 and "certified before" in out and first["id"] in out
    assert "1 of 1 already certified" in err and "--again" in err
    code, out, _ = run(capsys, "certify", "--home", home, "--json", "--quiet", "--again", image)
    (fresh,) = json.loads(out)["certificates"]
    assert fresh["existing"] is False and fresh["id"] != first["id"]
    assert json.loads(run(capsys, "status", "--home", home, "--json")[1])["certificates"] == 2


def test_certify_folders_stdin_lists_and_json_lines(tmp_path, capsys, monkeypatch):
    import io
    home = str(tmp_path / "home")
    assert run(capsys, "enroll", "--home", home, "--dev")[0] == 0
    folder = tmp_path / "out"
    (folder / "b").mkdir(parents=True)
    write_png(folder / "a.png", 1)
    write_png(folder / "b" / "c.png", 2)
    (folder / "b" / "d.txt").write_text("text")
    code, _, err = run(capsys, "certify", "--home", home, "--quiet", str(folder))
    assert code == 1 and "is a directory (--recursive" in err
    code, out, _ = run(capsys, "certify", "--home", home, "--quiet", "--jsonl", "-r", str(folder))
    records = [json.loads(text) for text in out.splitlines()]
    assert code == 0 and [r["certificate"]["name"] for r in records] == [
        str(folder / "a.png"), str(folder / "b" / "c.png"), str(folder / "b" / "d.txt")]
    listed = write_png(tmp_path / "e.png", 3)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{listed}\n\n{tmp_path / 'missing.png'}\n"))
    code, out, _ = run(capsys, "certify", "--home", home, "--quiet", "--jsonl", "-")
    records = [json.loads(text) for text in out.splitlines()]
    assert code == 1 and len(records) == 2
    assert {r["refused"]["name"] for r in records if "refused" in r} == {str(tmp_path / "missing.png")}
    assert {r["certificate"]["name"] for r in records if "certificate" in r} == {str(listed)}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = run(capsys, "certify", "--home", home, "-")
    assert code == 2 and out == "" and "no files to certify" in err
