import time
def test_probe(real_pairs):
    for k,(t,g) in real_pairs.items():
        print(k, t.duration, len(t.words), len(t.segments), [(f.id, f.number) for f in g.figures][:10])
