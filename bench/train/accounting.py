"""What a run costs and keeps: its peak memory, and the memory a method holds to fight forgetting."""
from __future__ import annotations

import math
import resource


def reset_peak_rss() -> None:
    """Reset this process's peak-RSS counter (Linux), so a warm worker reports each run's own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last reset (VmHWM), else since it started."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def method_memory_mb(n_params: int, stored_samples: int, input_shape: tuple[int, ...]) -> float:
    """What the method keeps, in MB of float32: the model's parameters plus its stored samples (as "A Model or
    603 Exemplars" argues, both count toward a method's memory budget)."""
    return (n_params + stored_samples * math.prod(input_shape)) * 4 / 2**20


def kept_memory(model, stored_samples: int, input_shape: tuple[int, ...]) -> dict:
    """What a method keeps to fight forgetting, beyond the model it is evaluated with: stored samples for rehearsal,
    prompts and keys for the prompt methods. Also in stored-sample units, so that rehearsal-free methods can be set
    against replay at equal memory (as the L2P and CODA-Prompt papers do)."""
    prompt = int(model.prompt_floats()) if hasattr(model, "prompt_floats") else 0
    sample = math.prod(input_shape)
    return {"prompt_params": prompt, "kept_memory_mb": (stored_samples * sample + prompt) * 4 / 2**20,
            "kept_samples": stored_samples + prompt / sample}
