"""training.train on CPU: smoke runs per backend family, reload, resume after SIGKILL, bit-exact resume,
2-process DDP over gloo, optimiser state.

Runs are tiny: a synthetic TissueNet-layout dataset of 96² images (2 training, 1 validation image of
"Breast", written by :func:`seggal.data.synthetic.write_tissuenet_npz`), one optimiser step per epoch.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seggal import checkpoint, gallery
from seggal.backends.optimizer import load_optimizer, optimizer_bytes
from seggal.errors import SegGalError
from seggal.methods import availability, get_method
from training import train

ROOT = Path(__file__).resolve().parents[1]
#: One method per trainable backend family; only those installed here are collected.
FAMILIES = [m for m in ("cellpose", "stardist", "mask-rcnn") if availability(m).available]
SMOKE = ["--task", "nuclei-dual", "--train-set", "Breast", "--batch-size", "2", "--device", "cpu"]  # 1 step an epoch


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    from seggal.data.synthetic import write_tissuenet_npz

    root = tmp_path_factory.mktemp("tissuenet")
    for split, n, seed in (("train", 2, 0), ("val", 1, 100), ("test", 1, 200)):
        write_tissuenet_npz(root / f"tissuenet_v1.1_{split}.npz", n, (96, 96), ["Breast"], seed)
    return str(root)


def run_cli(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("method", FAMILIES)
def test_smoke_run_writes_best_and_last_that_reload_to_identical_predictions(method, data, tmp_path):
    from seggal.data.tasks import load_task

    result = train.train(train.parse_config(["--method", method, "--out", str(tmp_path / "run"), "--epochs", "1",
                                           "--data", data, *SMOKE]))
    assert checkpoint.is_complete(result.best) and checkpoint.is_complete(result.last)
    config = checkpoint.read_config(result.last)
    assert (config["method"], config["task"], config["training_set"]) == (method, "tissuenet-nuclei-dual", "Breast")
    t = config["training"]
    assert (t["epochs"], t["epochs_done"], t["batch_size"], t["n_train_images"]) == (1, 1, 2, 2)
    assert t["hours"] > 0 and t["standardised_hours"] == pytest.approx(t["hours"] * 2 / 8 * 50 / 1)
    val = load_task(data, "nuclei-dual", split="val", training_set="Breast")
    loaded, _ = gallery.load_checkpoint(result.last, device="cpu")
    for sample in val:
        a, b = result.segmenter.predict(sample.image), loaded.predict(sample.image)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    # the validation scores written into the card are what the reloaded model scores
    assert train.validate(loaded, val) == pytest.approx(config["validation"])
    assert json.loads((result.last / train.STATE_FILE).read_text())["epoch"] == 1
    assert not (result.best / train.STATE_FILE).exists()


def test_paper_schedule_uses_the_registry_settings():
    assert train.paper_schedule(get_method("cellpose"), 100) == (500, 8, 0.2, None)
    assert train.paper_schedule(get_method("stardist"), 100) == (100, 4, 0.0003, None)
    # ResNeSt: 50 000 iterations of batch 4 over 2 580 images = ceil(77.5) epochs
    assert train.paper_schedule(get_method("resnest"), 2580) == (78, 4, None, 50_000)
    with pytest.raises(SegGalError, match="did not train it"):
        train.paper_schedule(get_method("sam"), 100)


def test_ranks_get_equal_shards_that_cover_the_data_padded_by_wrapping_round():
    shards = [train._Shard(list(range(7)), rank, 3) for rank in range(3)]
    assert [list(s) for s in shards] == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # as DistributedSampler pads
    assert shards[1][1:] == [4, 0] and {len(s) for s in shards} == {3}
    assert [list(train._Shard(["a"], rank, 2)) for rank in range(2)] == [["a"], ["a"]]


def test_cli_errors_are_clear(data, tmp_path):
    done = run_cli("--method", "sam", "--out", str(tmp_path / "sam"), "--data", data, *SMOKE, timeout=200)
    assert done.returncode == 2 and "sam" in done.stderr and "did not train it" in done.stderr
    done = run_cli("--method", "cellpose", "--out", str(tmp_path / "x"), "--data", data, "--task", "cytoplasm",
                   timeout=200)
    assert done.returncode == 2 and "unknown task 'cytoplasm'" in done.stderr
    done = run_cli("--method", "cellpose", "--out", str(tmp_path / "x"), "--data", str(tmp_path / "nowhere"), *SMOKE,
                   timeout=200)
    assert done.returncode == 2 and "nowhere" in done.stderr


def test_optimizer_state_round_trips_through_safetensors(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).sum().backward()
        opt.step()
    (tmp_path / "opt.safetensors").write_bytes(optimizer_bytes(opt))
    fresh = torch.optim.AdamW(net.parameters(), lr=0.5)
    load_optimizer(fresh, tmp_path / "opt.safetensors")
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index in a["state"]:
        for key, value in a["state"][index].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][index][key]))


def test_run_killed_with_sigkill_resumes_from_the_last_good_checkpoint(data, tmp_path):
    args = ["--method", "cellpose", "--epochs", "3", "--data", data, *SMOKE]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "training.train", *args, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state_file = out / "last" / train.STATE_FILE
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None and not state_file.is_file():
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    checkpoint.recover_dir(out / "last")  # what --resume does first, in case the kill fell inside a swap
    before = json.loads(state_file.read_text())
    assert 1 <= before["epoch"] < 3 and checkpoint.is_complete(out / "last")

    done = run_cli(*args, "--out", str(out))  # without --resume: refuses to overwrite
    assert done.returncode == 2 and "--resume" in done.stderr
    done = run_cli(*args, "--out", str(out), "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"after epoch {before['epoch']} of 3" in done.stdout
    assert "could not be restored" not in done.stderr  # Cellpose's SGD momentum came back
    after = json.loads(state_file.read_text())
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3]
    assert after["history"][: before["epoch"]] == before["history"]  # finished epochs were not redone
    assert json.loads((out / "last" / "backend.json").read_text())["epochs_done"] == 3
    assert checkpoint.read_config(out / "last")["training"]["epochs_done"] == 3
    assert checkpoint.is_complete(out / "best")
    assert sorted(p.name for p in out.iterdir()) == ["best", "last"]  # no staging folders left


def torchrun(*args: str, port: int, timeout: int = 400) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 ARGS`` on the CPU (gloo), one thread per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(port), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_two_process_ddp_run_keeps_ranks_identical_and_writes_once(tmp_path):
    """3 training images over 2 ranks: shards of 2 (rank 1's padded by wrapping round), global batch 2 =
    1 per rank, 2 DDP steps per rank; the ranks' parameter digests are compared after the epoch."""
    from seggal.data.synthetic import write_tissuenet_npz

    for split, n, seed in (("train", 3, 0), ("val", 1, 100)):
        write_tissuenet_npz(tmp_path / f"tissuenet_v1.1_{split}.npz", n, (96, 96), ["Breast"], seed)
    out = tmp_path / "ddp"
    done = torchrun("-m", "training.train", "--method", "cellpose", "--epochs", "1", "--data", str(tmp_path),
                    "--task", "nuclei-nuclear", "--train-set", "Breast", "--max-iters", "2", "--batch-size", "2",
                    "--device", "cpu", "--out", str(out), port=29517)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    t = checkpoint.read_config(out / "last")["training"]
    assert (t["world_size"], t["batch_size"], t["batch_size_per_rank"], t["n_train_images"]) == (2, 2, 1, 3)
    assert t["standardised_hours"] == pytest.approx(t["hours"] * 2 / 8 * 50 / 1)  # T_s uses the global batch
    assert done.stdout.count("epoch 1/1") == 1  # only rank 0 validates and writes
    assert "parameters identical on 2 ranks" in done.stdout
    assert checkpoint.is_complete(out / "best") and sorted(p.name for p in out.iterdir()) == ["best", "last"]
    # the digest both ranks agreed on is that of the parameters rank 0 saved
    synced = json.loads((out / "last" / train.STATE_FILE).read_text())["history"][0]["ranks_in_sync"]
    saved, _ = gallery.load_checkpoint(out / "last", device="cpu")
    assert synced == {"world_size": 2, "parameters_sha1": train.parameters_digest(saved.optimizer)}
    assert json.loads((out / "last" / "backend.json").read_text())["epochs_done"] == 1


def test_rank_check_stops_ranks_whose_parameters_differ(tmp_path):
    """Two gloo ranks with one network: equal parameters pass the check; a 1e-6 change on rank 1 stops both."""
    script = tmp_path / "check.py"
    script.write_text(
        "import sys, torch\n"
        "from seggal.errors import SegGalError\n"
        "from training.train import _Dist\n"
        "dist = _Dist('cpu')\n"
        "dist.start(True, 'a torch network')\n"
        "torch.manual_seed(0)\n"
        "net = torch.nn.Linear(3, 2)\n"
        "optimizer = torch.optim.SGD(net.parameters(), lr=0.1)\n"
        "lines = [dist.check_in_sync(optimizer, 1)]\n"
        "with torch.no_grad():\n"
        "    net.bias[0] += dist.rank * 1e-6\n"
        "try:\n"
        "    dist.check_in_sync(optimizer, 2)\n"
        "except SegGalError as exc:\n"
        "    lines.append(str(exc))\n"
        "open(f'{sys.argv[1]}/rank{dist.rank}.txt', 'w').write('\\n'.join(lines))\n"
        "dist.close()\n")
    done = torchrun(str(script), str(tmp_path), port=29518, timeout=200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    reports = [(tmp_path / f"rank{rank}.txt").read_text().splitlines() for rank in range(2)]
    assert reports[0][0] == reports[1][0]  # same digest while the parameters are equal
    for report in reports:  # every rank stops (none waits for the other)
        assert len(report) == 2 and report[1].startswith("ranks diverged after epoch 2"), report


RESUMABLE = [m for m in ("cellpose", "mask-rcnn") if availability(m).available]


@pytest.mark.parametrize("method", RESUMABLE)
def test_resumed_run_ends_bit_identical_to_an_uninterrupted_run(method, data, tmp_path):
    """2 epochs straight vs 1 epoch, then --resume to 2: same weights, optimiser state, counters, history."""
    import torch
    from safetensors import safe_open

    def run(out, epochs, *extra):
        return train.train(train.parse_config(["--method", method, "--data", data, *SMOKE, "--epochs", str(epochs),
                                             "--out", str(tmp_path / out), *extra]))

    straight = run("straight", 2)
    run("resumed", 1)
    resumed = run("resumed", 2, "--resume")

    def tensors(path):
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}

    for name in ("model.safetensors", train.OPTIMIZER_FILE):
        (meta_a, a), (meta_b, b) = tensors(straight.last / name), tensors(resumed.last / name)
        assert a.keys() == b.keys() and len(a) > 0, name
        assert [k for k in a if not torch.equal(a[k], b[k])] == [], name
        if name == train.OPTIMIZER_FILE:  # class, hyper-parameters incl. the warmed-up learning rate
            assert meta_a == meta_b
    backend = json.loads((resumed.last / "backend.json").read_text())
    assert backend == json.loads((straight.last / "backend.json").read_text()) and backend["epochs_done"] == 2
    history = [json.loads((r.last / train.STATE_FILE).read_text())["history"] for r in (straight, resumed)]
    assert history[0] == history[1] and [h["epoch"] for h in history[0]] == [1, 2]


def test_bounded_validation_takes_evenly_spaced_images():
    assert list(train._validation_samples(list(range(7)), 3)) == [0, 3, 6]
    assert list(train._validation_samples(list(range(7)), 2)) == [0, 4]
    assert train._validation_samples([1, 2], 5) == [1, 2]


def test_config_refuses_nonsense_before_running(tmp_path):
    with pytest.raises(SegGalError, match="max-iters must be a whole number >= 1"):
        train.TrainConfig(method="cellpose", data="synthetic", task="nuclei-dual", out=tmp_path, max_iters=0)
    with pytest.raises(SegGalError, match="training set .Kidney."):  # TissueNet has no Kidney: the one check says so
        train.train(train.TrainConfig(method="cellpose", data="synthetic", task="nuclei-dual", train_set="Kidney",
                                      out=tmp_path))


def test_optimizer_state_with_wrong_shaped_momentum_is_refused_at_load(tmp_path):
    """Same parameter count, other shapes: torch's load_state_dict accepts it and fails at the first step."""
    import torch

    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(3, 4)
    opt = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    a(torch.randn(2, 4)).sum().backward()
    opt.step()
    (tmp_path / "opt.safetensors").write_bytes(optimizer_bytes(opt))
    with pytest.raises(SegGalError, match=r"0\.momentum_buffer has shape \(3, 4\), but parameter 0 has shape \(4, 3\)"):
        load_optimizer(torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9), tmp_path / "opt.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(SegGalError, match="not a readable optimiser state"):
        load_optimizer(opt, tmp_path / "junk.safetensors")


@pytest.fixture(scope="module")
def one_epoch(data, tmp_path_factory) -> Path:
    """A finished 1-step Cellpose run (``last/`` with weights, optimiser state and training state)."""
    out = tmp_path_factory.mktemp("one-epoch") / "run"
    train.train(train.TrainConfig(method="cellpose", data=data, task="nuclei-dual", train_set="Breast", out=out,
                                  max_iters=1, batch_size=2, device="cpu"))
    return out


def test_max_iters_caps_the_total_optimiser_steps_not_each_epoch(one_epoch):
    """Cellpose's paper schedule is 500 epochs; --max-iters 1 alone is a 1-step run (1 step an epoch here)."""
    t = checkpoint.read_config(one_epoch / "last")["training"]
    assert (t["epochs"], t["epochs_done"], t["max_iters"], t["steps_per_epoch"]) == (1, 1, 1, 1)
    assert [h["epoch"] for h in json.loads((one_epoch / "last" / train.STATE_FILE).read_text())["history"]] == [1]


def _resume_broken(one_epoch: Path, tmp_path: Path, data: str, damage) -> tuple[int, str]:
    """Copy the 1-epoch run, ``damage(last)``, resume it to 2 epochs in process → (exit code, stderr)."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    damage(out / "last")
    with pytest.MonkeyPatch.context() as mp:
        import io

        err = io.StringIO()
        mp.setattr(sys, "stderr", err)
        code = train.main(["--method", "cellpose", "--data", data, *SMOKE, "--epochs", "2", "--out", str(out), "--resume"])
    return code, err.getvalue()


def _edit_state(edit):
    def damage(last: Path) -> None:
        state = json.loads((last / train.STATE_FILE).read_text())
        edit(state)
        (last / train.STATE_FILE).write_text(json.dumps(state))
    return damage


def _truncate(name: str):
    def damage(last: Path) -> None:
        content = (last / name).read_bytes()
        (last / name).write_bytes(content[: len(content) // 2])
    return damage


@pytest.mark.parametrize(("damage", "reason"), [
    (_truncate("model.safetensors"), "model.safetensors is not the file that was saved"),
    (_truncate(train.OPTIMIZER_FILE), f"{train.OPTIMIZER_FILE} is not the file that was saved"),
    (lambda last: (last / train.STATE_FILE).write_text('{"epoch": 1, "hist'), "is not readable JSON"),
    (_edit_state(lambda s: s.update(epoch="abc", history={})), "'epoch', 'history' missing or of the wrong type"),
    (_edit_state(lambda s: s.pop("files")), "'files' missing or of the wrong type"),
    (lambda last: (last / "config.json").unlink(), "config.json not found"),
    (lambda last: (last / train.STATE_FILE).unlink(), f"{train.STATE_FILE} is missing"),
    (_edit_state(lambda s: s.update(epoch=99)), "says 99 epoch(s) done, but this run has 2"),
], ids=["truncated-weights", "truncated-optimizer", "corrupt-state", "state-types", "no-hashes", "no-config", "no-state",
        "epoch-beyond-epochs"])
def test_resume_refuses_a_damaged_last_checkpoint_and_points_to_best(one_epoch, tmp_path, data, damage, reason):
    code, err = _resume_broken(one_epoch, tmp_path, data, damage)
    assert code == 2, err
    assert reason in err and f"Fall back to {tmp_path / 'run' / 'best'}" in err
    assert "Traceback" not in err


def test_a_run_on_generated_nuclei_resumes(tmp_path):
    """A run on a generated source records the training set "synthetic" (not the "All" it was asked for), and
    resuming it compares like with like: a finished run resumes to its end without training again."""
    config = dict(method="cellpose", data="synthetic-nuclei", task="nuclei-nuclear", out=tmp_path / "run", epochs=1,
                  steps_per_epoch=1, max_val_images=1, batch_size=1, device="cpu")
    first = train.train(train.TrainConfig(**config))
    assert json.loads((first.last / "config.json").read_text())["training_set"] == "synthetic"
    again = train.train(train.TrainConfig(**config, resume=True))
    assert again.state["epoch"] == first.state["epoch"] == 1
    assert again.state["train_seconds"] == first.state["train_seconds"]  # nothing was trained again
