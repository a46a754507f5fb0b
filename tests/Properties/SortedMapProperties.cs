using Bitswap.Domain;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>The reducers' persistent B+tree map against a mutable sorted dictionary as the model.</summary>
public class SortedMapProperties
{
    /// <summary>
    /// A random run of single and batch changes, builder sessions and bulk builds: after every operation the map holds
    /// exactly the model's entries in order, finds what the model finds, and every earlier version still holds what it held
    /// (path copying never changes a published node). Runs reach a few thousand entries, so trees are three levels deep
    /// and nodes split, merge and collapse.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property Operations_match_a_sorted_dictionary() =>
        Prop.ForAll(
            Gen.Choose(0, int.MaxValue).ToArbitrary(),
            Gen.Choose(1, 400).ToArbitrary(),
            Gen.Elements(16, 300, 6000).ToArbitrary(),
            (seed, steps, keyRange) =>
            {
                var random = new Random(seed);
                var model = new SortedDictionary<int, int>();
                var map = SortedMap<int, int>.Empty;
                var history = new List<(SortedMap<int, int> Map, KeyValuePair<int, int>[] Entries)>();
                for (var step = 0; step < steps; step++)
                {
                    history.Add((map, [.. model]));
                    var operation = random.Next(7);
                    switch (operation)
                    {
                        case 0:
                        {
                            var (key, value) = (random.Next(keyRange), random.Next(3));
                            map = map.SetItem(key, value);
                            model[key] = value;
                            break;
                        }
                        case 1:
                        {
                            var key = random.Next(keyRange);
                            map = map.Remove(key);
                            model.Remove(key);
                            break;
                        }
                        case 2:
                        {
                            var batch = Enumerable.Range(0, random.Next(200)).Select(_ => KeyValuePair.Create(random.Next(keyRange), random.Next(3))).ToList();
                            map = map.SetItems(batch);
                            foreach (var (key, value) in batch) model[key] = value;
                            break;
                        }
                        case 3:
                        {
                            var keys = Enumerable.Range(0, random.Next(300)).Select(_ => random.Next(keyRange)).ToList();
                            map = map.RemoveRange(keys);
                            foreach (var key in keys) model.Remove(key);
                            break;
                        }
                        case 4:
                        {
                            // A builder session: adds, replacements and removals interleaved, with lookups on the way.
                            var builder = map.ToBuilder();
                            for (var i = random.Next(400); i > 0; i--)
                            {
                                var key = random.Next(keyRange);
                                switch (random.Next(4))
                                {
                                    case 0:
                                        if (builder.ContainsKey(key) != model.ContainsKey(key)) return false.Label($"builder lookup of {key} differs");
                                        if (!model.ContainsKey(key))
                                        {
                                            builder.Add(key, 7);
                                            model.Add(key, 7);
                                        }
                                        break;
                                    case 1:
                                        if (builder.Remove(key) != model.Remove(key)) return false.Label($"builder removal of {key} differs");
                                        break;
                                    default:
                                        var value = random.Next(3);
                                        builder[key] = value;
                                        model[key] = value;
                                        break;
                                }
                                if (builder.Count != model.Count) return false.Label("builder count differs");
                            }
                            map = SortedMap<int, int>.From(builder);
                            // The builder goes on after publishing: the published map must not see it.
                            var frozen = map;
                            var frozenEntries = model.ToArray();
                            builder[random.Next(keyRange)] = 9;
                            builder.Remove(random.Next(keyRange));
                            if (!frozen.SequenceEqual(frozenEntries)) return false.Label("a builder changed the map it had published");
                            break;
                        }
                        case 5:
                        {
                            var keys = Enumerable.Range(0, random.Next(keyRange)).Select(_ => random.Next(keyRange)).Distinct().ToList();
                            map = SortedMap<int, int>.Of(keys.Select(k => (k, k % 5)));
                            model = new SortedDictionary<int, int>(keys.ToDictionary(k => k, k => k % 5));
                            break;
                        }
                        default:
                        {
                            // Removals of a run of neighbouring keys, which empties and merges leaves.
                            var start = random.Next(keyRange);
                            var run = Enumerable.Range(start, random.Next(100)).ToList();
                            map = map.RemoveRange(run);
                            foreach (var key in run) model.Remove(key);
                            break;
                        }
                    }

                    if (map.Count != model.Count || map.IsEmpty != (model.Count == 0))
                        return false.Label($"step {step} (operation {operation}): count {map.Count}, model {model.Count}");
                    if (!map.SequenceEqual(model)) return false.Label($"step {step} (operation {operation}): entries differ");
                    for (var probe = 0; probe < 8; probe++)
                    {
                        var key = random.Next(keyRange + 2) - 1;
                        var found = map.TryGetValue(key, out var value);
                        if (found != model.TryGetValue(key, out var expected) || (found && value != expected))
                            return false.Label($"step {step}: lookup of {key} differs");
                    }
                }

                var built = SortedMap<int, int>.Of(model.Select(kv => (kv.Key, kv.Value)));
                return history.All(h => h.Map.SequenceEqual(h.Entries)).Label("an earlier version changed")
                    .And(built.Equals(map) && map.Equals(built)).Label("a bulk-built copy is not equal")
                    .And(map.Keys.SequenceEqual(model.Keys) && map.Values.SequenceEqual(model.Values)).Label("keys or values differ");
            });

    /// <summary>Maps with the same entries are equal however they were built; a different value or key makes them differ.</summary>
    [Property(MaxTest = 300)]
    public Property Equality_is_by_entries() =>
        Prop.ForAll(
            Gen.ListOf(Gen.Choose(0, 3000)).Select(keys => keys.Distinct().ToList()).ToArbitrary(),
            keys =>
            {
                var byOne = keys.Aggregate(SortedMap<int, int>.Empty, (m, k) => m.SetItem(k, k));
                var bulk = SortedMap<int, int>.Of(keys.Select(k => (k, k)));
                var changed = keys.Count == 0 ? byOne.SetItem(1, 1) : byOne.SetItem(keys[0], keys[0] + 1);
                return (byOne == bulk).Label("same entries differ")
                    .And(byOne != changed).Label("a changed value compares equal");
            });
}
