#!/usr/bin/env python3
"""Runs picseek stages as shards on a Ray cluster, then merges them.

For each stage named, in order: download, clean and index run as --shards tasks (one
`picseek <stage> --shard I/N` each, on whichever node Ray picks, retried when they fail),
then `picseek merge <stage>` runs here; split runs here as one process. Every node must
see the data directory at the same path (a shared file system) and have the picseek
binary (--picseek). picseek does the work and keeps its own state (each shard's manifest
and completion marker), so a driver that is run again only redoes unfinished shards.

    python scripts/ray/picseek_ray.py --address auto --shards 16 \\
        --data-dir /shared/picseek download clean split index

Stage flags: --args STAGE="FLAGS" (repeatable), e.g. --args download="--rate 1".
"""

import argparse
import os
import shlex
import subprocess
import sys

SHARDED = ("download", "clean", "index")
STAGES = SHARDED + ("split",)
# Variables a shard needs from the driver's environment, if set there.
FORWARDED = ("ORT_DYLIB_PATH", "RUST_LOG", "FLICKR_API_KEY", "NO_COLOR")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stages", nargs="+", choices=STAGES, metavar="STAGE", help="download, clean, split, index")
    parser.add_argument("--address", default="auto", help="the Ray cluster (ray.init's address) [default: auto]")
    parser.add_argument("--shards", type=int, required=True, help="shards per sharded stage")
    parser.add_argument("--data-dir", required=True, help="the data directory, at the same path on every node")
    parser.add_argument("--picseek", default="picseek", help="the picseek binary on every node [default: on PATH]")
    parser.add_argument("--retries", type=int, default=3, help="retries of a failed shard [default: 3]")
    parser.add_argument("--cpus-per-shard", type=float, default=1, help="Ray CPUs each shard takes [default: 1]")
    parser.add_argument("--gpus-per-shard", type=float, default=0, help="Ray GPUs each shard takes (index --device cuda)")
    parser.add_argument("--args", action="append", default=[], metavar="STAGE=FLAGS", help="flags for one stage")
    args = parser.parse_args(argv)
    args.data_dir = os.path.abspath(args.data_dir)
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    args.stage_flags = {}
    for item in args.args:
        stage, sep, flags = item.partition("=")
        if not sep or stage not in STAGES:
            parser.error(f"--args {item!r}: write it STAGE=FLAGS with STAGE one of {', '.join(STAGES)}")
        args.stage_flags[stage] = shlex.split(flags)
    return args


def picseek_command(args, *words):
    return [args.picseek, "--data-dir", args.data_dir, *words]


def run_here(command):
    """Runs a command on this machine; its last error line if it fails."""
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise SystemExit(f"picseek_ray: {' '.join(command[3:5])} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def run_sharded(ray, args, stage):
    flags = args.stage_flags.get(stage, [])

    @ray.remote(num_cpus=args.cpus_per_shard, num_gpus=args.gpus_per_shard, max_retries=args.retries, retry_exceptions=True)
    def shard(index):
        command = picseek_command(args, stage, *flags, "--shard", f"{index}/{args.shards}")
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
        return done.stdout

    pending = {shard.remote(i): i for i in range(args.shards)}
    failed = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready[0])
        try:
            ray.get(ready[0])
            print(f"{stage}: shard {index}/{args.shards} complete", file=sys.stderr)
        except Exception as error:  # Ray wraps the task's error; its message ends with ours.
            message = str(getattr(error, "cause", None) or error).strip().splitlines()
            failed.append(index)
            print(f"{stage}: shard {index}/{args.shards} failed after {args.retries} retries: {message[-1]}", file=sys.stderr)
    if failed:
        raise SystemExit(f"picseek_ray: {stage}: shard(s) {', '.join(map(str, sorted(failed)))} failed; run the driver again to redo only them")
    print(f"{stage}: {args.shards} shards complete; merging", file=sys.stderr)
    sys.stdout.write(run_here(picseek_command(args, "merge", stage, *flags)))


def main(argv):
    args = parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    env_vars = {name: os.environ[name] for name in FORWARDED if name in os.environ}
    ray.init(address=args.address, runtime_env={"env_vars": env_vars} if env_vars else None, log_to_driver=False)
    try:
        for stage in args.stages:
            if stage in SHARDED:
                run_sharded(ray, args, stage)
            else:
                sys.stdout.write(run_here(picseek_command(args, stage, *args.stage_flags.get(stage, []))))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
