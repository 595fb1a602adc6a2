import numpy as np

from motioncontent.data.sprites import factors


def test_split_matches_the_benchmark_check_values():
    # SPRITES.md 3.5: values verified against the original generation code.
    perm = np.random.RandomState(423).permutation(1296)
    assert perm[:10].tolist() == [1116, 1135, 17, 469, 1293, 491, 869, 961, 91, 793]
    train, test = factors.character_split(423)
    assert (len(train), len(test)) == (1000, 296)
    assert test[:10].tolist() == [884, 1285, 252, 297, 947, 713, 1063, 643, 299, 523]
    names = ["".join(map(str, factors.character_attributes(int(s)))) for s in test[:10]]
    assert names == ["4032", "5541", "1100", "1213", "4215", "3145", "4531", "2551", "1215", "2231"]
    assert factors.split_fingerprint(test).startswith("de8d4c17b6674ea7")
    assert not set(train.tolist()) & set(test.tolist())


def test_test_split_attribute_counts():
    _, test = factors.character_split(423)
    labels = factors.labels_of(test, np.zeros(len(test), dtype=int))
    expected = {
        "skin": [52, 53, 49, 48, 44, 50],
        "pants": [50, 49, 48, 52, 43, 54],
        "top": [50, 47, 50, 45, 57, 47],
        "hair": [49, 51, 52, 46, 48, 50],
    }
    for name, counts in expected.items():
        assert np.bincount(labels[name], minlength=6).tolist() == counts, name


def test_character_ids_and_motion_labels_round_trip():
    for s in (0, 1, 215, 216, 777, 1295):
        assert factors.character_id(*factors.character_attributes(s)) == s
    labels = factors.sequence_labels(np.array([7, 1295]))
    assert labels["motion"].tolist() == list(range(9)) * 2
    assert labels["action"].tolist()[:9] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert labels["direction"].tolist()[:9] == [0, 1, 2] * 3
    assert labels["character"].tolist() == [7] * 9 + [1295] * 9
    assert labels["hair"][-1] == 5 and labels["skin"][-1] == 5
