"""`parley corpus stats`: hours, phone coverage and label ranges of a corpus as a Markdown report with plots."""
import numpy as np

from engine.cli import main
from engine.training.corpus.shards import (PHONE_INDEX, CorpusSpec, ShardWriter, Window, write_corpus_json,
                                           write_manifest)
from engine.training.corpus.stats import hours_by

SPEC = CorpusSpec(window_s=2.0, num_joints=3, num_lip_vertices=4)


def _corpus(tmp_path):
    write_corpus_json(tmp_path, SPEC, seed=0)
    w = ShardWriter(tmp_path, "train-00000", SPEC)
    for row, (label, real) in enumerate((("AA", 60), ("M", 30))):
        arrays = {k: np.zeros(shape, dtype) for k, (shape, dtype) in SPEC.shapes().items()}
        arrays["mask"][:real] = True
        arrays["phones"][:] = -1
        arrays["phones"][:real] = PHONE_INDEX[label]
        arrays["expression"][:real, 24] = 0.5          # jawOpen
        arrays["lip_offsets_mm"][:real, 0, 1] = -6.0   # 6 mm down
        arrays["root_translation"][:real, 0] = 0.01    # 10 mm
        w.add(Window(arrays=arrays, row=row, item=f"i{row}", start_s=0.0))
    w.close()
    write_manifest(tmp_path, [
        {"row": 0, "status": "ok", "duration_s": 2.0, "source": "real", "corpus": "lj", "voice": "LJ",
         "split": "train", "emotion": {}, "augment": []},
        {"row": 1, "status": "ok", "duration_s": 1.0, "source": "synthetic", "corpus": "flite", "voice": "flite-slt",
         "split": "train", "emotion": {"joy": 0.7, "anger": 0.2}, "augment": [{"op": "noise"}, {"op": "level"}]},
        {"row": 2, "status": "skipped", "reason": "transcript does not align: x", "source": "real", "corpus": "lj",
         "voice": "LJ", "split": "train", "emotion": {}, "augment": []}])


def test_hours_group_kept_rows_by_voice_emotion_and_augmentation(tmp_path):
    _corpus(tmp_path)
    from engine.training.corpus.shards import read_manifest

    h = hours_by(read_manifest(tmp_path))
    assert h["voice"] == {"LJ": 2.0 / 3600, "flite-slt": 1.0 / 3600}
    assert h["emotion"] == {"neutral": 2.0 / 3600, "joy": 1.0 / 3600}
    assert h["augmentation"] == {"clean": 2.0 / 3600, "noise": 1.0 / 3600, "level": 1.0 / 3600}


def test_stats_renders_its_report_and_plots(tmp_path, capsys):
    _corpus(tmp_path)
    assert main(["corpus", "stats", str(tmp_path)]) == 0
    report = tmp_path / "stats" / "report.md"
    assert capsys.readouterr().out.strip() == str(report)
    text = report.read_text()
    for png in ("hours_voice.png", "hours_emotion.png", "hours_augmentation.png", "phones.png", "expression.png",
                "lip_offsets.png"):
        assert f"]({png})" in text
        data = (tmp_path / "stats" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert "| AA | 2.0 |" in text and "| M | 1.0 |" in text          # seconds of labelled frames per phone
    assert "2 of 40 labels present" in text
    assert "| largest lip offset (mm) | 6.00 | 6.00 | 6.00 | 6.00 |" in text
    assert "| root translation x (mm) | 10.0 |" in text
    assert "| transcript does not align | 1 |" in text


def test_stats_of_a_folder_that_is_not_a_corpus_is_a_clear_error(tmp_path, capsys):
    assert main(["corpus", "stats", str(tmp_path)]) == 2
    assert "not a Parley corpus" in capsys.readouterr().err
