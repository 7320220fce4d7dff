"""One rank of a Hugging Face Trainer job with `LRCastCallback` on a reduce_lr_on_plateau run
(started by test_transformers.py under torchrun): writes its log history to OUT/rank<R>.json.

    torchrun --nproc_per_node=2 tests/adapters/hf_ddp_job.py URL RUN_ID OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` from the repository

import torch  # noqa: E402
import transformers  # noqa: E402

import lrcast.transformers  # noqa: E402
from tests.adapters.tiny_hf import COMMON, EVAL, PLATEAU, TRAIN, Tiny  # noqa: E402


def main(url: str, run_id: str, out: str) -> None:
    torch.manual_seed(0)
    args = transformers.TrainingArguments(output_dir=out, **COMMON, **PLATEAU)
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=TRAIN,
                                   eval_dataset=EVAL,
                                   callbacks=[lrcast.transformers.LRCastCallback(url, run_id)])
    trainer.train()
    Path(out, f"rank{args.process_index}.json").write_text(json.dumps(trainer.state.log_history))


if __name__ == "__main__":
    main(*sys.argv[1:4])
