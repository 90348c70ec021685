import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from conftest import toy_pairs, write_jsonl
from rewardlab.core.errors import UserError
from rewardlab.core.params import Columns, DataParams
from rewardlab.data.sources.loading import load_pairs


def test_builtin_source_is_deterministic_and_sized():
    params = DataParams(num_pairs=50)
    assert load_pairs(params).to_list() == load_pairs(params).to_list()
    columns = ["prompt", "chosen", "rejected", "category", "topic", "topic_group"]
    assert load_pairs(params).column_names == columns
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
    assert "local path" in str(err.value)


def test_builtin_beyond_its_capacity_is_refused():
    with pytest.raises(UserError, match="at most"):
        load_pairs(DataParams(num_pairs=10**9))


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("pairs.jsonl", '{"prompt": "p"}\n{"prompt": "p" "chosen": 1}\n', "line 2, column 16"),
        ("pairs.jsonl", '{"prompt": "p"}\n\n[1, 2]\n', "line 3: expected a JSON object"),
        ("pairs.json", '[{"prompt": "p"},\n {"prompt": oops}]\n', "line 2, column 13"),
    ],
)
def test_a_broken_json_file_names_the_file_and_the_line(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_pairs(DataParams(source=str(path)))
    assert str(path) in str(err.value)
    assert where in str(err.value)


def test_a_broken_csv_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("prompt,chosen,rejected\np,c,r\np,c,r,extra\n")
    with pytest.raises(UserError, match=r"pairs\.csv.*could not be read as csv.*line 3"):
        load_pairs(DataParams(source=str(path)))


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    path = tmp_path / "pairs.parquet"
    path.write_text("not parquet")
    with pytest.raises(UserError, match=r"pairs\.parquet.*could not be read as parquet"):
        load_pairs(DataParams(source=str(path)))


def test_rows_of_the_wrong_type_reach_prepare_unchanged_to_be_counted(tmp_path):
    rows = [*toy_pairs(2), {"prompt": "p", "chosen": 3, "rejected": ["r"]}, {"prompt": None}]
    pairs = load_pairs(DataParams(source=str(write_jsonl(tmp_path / "p.jsonl", rows))))
    assert pairs.to_list()[2:] == [
        {"prompt": "p", "chosen": 3, "rejected": ["r"]},
        {"prompt": None, "chosen": None, "rejected": None},
    ]


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "saved"])
def test_local_sources_are_read_and_never_written(tmp_path, kind):
    folder = tmp_path / "inputs"
    folder.mkdir()
    frame = pd.DataFrame(toy_pairs(6))
    if kind == "jsonl":
        source = write_jsonl(folder / "pairs.jsonl", toy_pairs(6))
    elif kind == "csv":
        frame.to_csv(source := folder / "pairs.csv", index=False)
    elif kind == "parquet":
        frame.to_parquet(source := folder / "pairs.parquet")
    else:
        Dataset.from_list(toy_pairs(6)).save_to_disk(source := folder / "saved")
    params = DataParams(source=str(source), columns=Columns(prompt="prompt"))
    before = snapshot(folder)
    assert len(load_pairs(params)) == 6
    assert snapshot(folder) == before  # no file added, changed or touched


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def test_an_edited_hub_layout_folder_is_read_again(tmp_path):
    # datasets names a folder's cache after its name and card: without our own key, the second
    # read would return the first file's rows.
    folder = tmp_path / "pairs"
    (folder / "data").mkdir(parents=True)
    parquet = folder / "data" / "train-00000-of-00001.parquet"
    pd.DataFrame(toy_pairs(3)).to_parquet(parquet)
    assert len(load_pairs(DataParams(source=str(folder)))) == 3
    pd.DataFrame(toy_pairs(5)).to_parquet(parquet)
    assert len(load_pairs(DataParams(source=str(folder)))) == 5
