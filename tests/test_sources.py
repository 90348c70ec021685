import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from conftest import toy_pairs, write_jsonl
from rewardlab.errors import UserError
from rewardlab.params import Columns, DataParams
from rewardlab.sources import load_pairs


def test_builtin_source_is_deterministic_and_sized():
    params = DataParams(num_pairs=50)
    assert load_pairs(params).to_list() == load_pairs(params).to_list()
    assert load_pairs(params).column_names == ["prompt", "chosen", "rejected"]
    assert len(load_pairs(params)) == 50


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_local_files_load_by_suffix(tmp_path, suffix):
    frame = pd.DataFrame(toy_pairs(6))
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    assert load_pairs(DataParams(source=str(path))).to_list() == toy_pairs(6)


def test_saved_dataset_folder_and_split(tmp_path):
    DatasetDict(
        {"train": Dataset.from_list(toy_pairs(3)), "other": Dataset.from_list(toy_pairs(5))}
    ).save_to_disk(tmp_path / "saved")
    assert len(load_pairs(DataParams(source=str(tmp_path / "saved"), split="other"))) == 5
    with pytest.raises(UserError, match=r"data.split = 'nope' not found.*splits: train, other"):
        load_pairs(DataParams(source=str(tmp_path / "saved"), split="nope"))


def test_hub_layout_folder_loads_like_the_hub(tmp_path):
    (tmp_path / "repo" / "data").mkdir(parents=True)
    pd.DataFrame(toy_pairs(7)).to_parquet(
        tmp_path / "repo" / "data" / "train-00000-of-00001.parquet"
    )
    assert len(load_pairs(DataParams(source=str(tmp_path / "repo")))) == 7


def test_columns_are_mapped(tmp_path):
    rows = [
        {"question": r["prompt"], "good": r["chosen"], "bad": r["rejected"], "x": 1}
        for r in toy_pairs(4)
    ]
    params = DataParams(
        source=str(write_jsonl(tmp_path / "p.jsonl", rows)),
        columns=Columns(prompt="question", chosen="good", rejected="bad"),
    )
    assert load_pairs(params).to_list() == toy_pairs(4)


def test_a_missing_column_names_it_and_the_columns_found(tmp_path):
    rows = [{"prompt": "p", "answer": "a", "rejected": "r"}]
    params = DataParams(source=str(write_jsonl(tmp_path / "p.jsonl", rows)))
    with pytest.raises(UserError, match=r"'chosen' \(data.columns.chosen\).*found: prompt, answer"):
        load_pairs(params)


def test_unsupported_file_type(tmp_path):
    (tmp_path / "pairs.txt").write_text("hello")
    with pytest.raises(UserError, match=r"unsupported file type '\.txt'"):
        load_pairs(DataParams(source=str(tmp_path / "pairs.txt")))


def test_unreachable_hub_dataset_names_it_and_how_to_proceed(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as err:
        load_pairs(DataParams(source="nobody/no-such-dataset-rewardlab"))
    assert "nobody/no-such-dataset-rewardlab" in str(err.value)
    assert "local file or folder" in str(err.value)


def test_builtin_beyond_its_capacity_is_refused():
    with pytest.raises(UserError, match="at most"):
        load_pairs(DataParams(num_pairs=10**9))
