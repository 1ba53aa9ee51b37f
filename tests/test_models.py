from sentscore.data import ScoreScale
from sentscore.models import load_for_training

SCALE = ScoreScale(("1", "2", "3", "4", "5"))


def test_checkpoint_dropout_is_kept_unless_one_is_given(tiny_model_dir):
    _, kept = load_for_training(str(tiny_model_dir), SCALE)
    assert kept.config.hidden_dropout_prob == kept.config.attention_probs_dropout_prob == 0.1
    _, changed = load_for_training(str(tiny_model_dir), SCALE, dropout=0.0)
    assert changed.config.hidden_dropout_prob == changed.config.attention_probs_dropout_prob == 0.0
    dropouts = [m.p for m in changed.modules() if m.__class__.__name__ == "Dropout"]
    assert dropouts and set(dropouts) == {0.0}


def test_head_is_labelled_after_the_scale(tiny_model_dir):
    _, model = load_for_training(str(tiny_model_dir), SCALE)
    assert model.config.id2label == {i: str(i + 1) for i in range(5)}
    assert model.num_labels == 5
