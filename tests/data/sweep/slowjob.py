"""A user-defined job kind (module:function) used to test the sweep machinery itself."""

import time
from pathlib import Path


def job(params: dict, workdir: Path) -> dict:
    time.sleep(float(params.get("sleep", 0)))
    if params.get("fail"):
        raise RuntimeError(f"asked to fail for x={params['x']}")
    return {"y": float(params["x"]) ** 2}
