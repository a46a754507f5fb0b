using Bitswap.Domain;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Bitswap.Tests.Properties;

/// <summary>The client's recent-block set, added to a message at a time, behaves as adding block by block did.</summary>
public class RecentSetProperties
{
    /// <summary>
    /// Batches of distinct keys (as a message's blocks are) go in through <see cref="RecentSet{TKey, TValue}.BatchLookup"/>
    /// and one <see cref="RecentSet{TKey, TValue}.AddNew"/> each; a plain FIFO fed key by key is the model. Every lookup
    /// and the keys kept, oldest first, agree (including when a batch pushes out keys the same batch looks up).
    /// </summary>
    [Property(MaxTest = 1000)]
    public Property Batched_additions_match_adding_one_key_at_a_time() =>
        Prop.ForAll(
            Gen.Choose(0, 8).ToArbitrary(),
            Gen.ListOf(Gen.ListOf(Gen.Choose(0, 24)).Select(keys => keys.Distinct().ToList())).ToArbitrary(),
            (capacity, batches) =>
            {
                var model = new List<int>();
                var set = RecentSet<int, int>.Create(capacity);
                var modelSeen = new List<bool>();
                var seen = new List<bool>();
                foreach (var batch in batches)
                {
                    foreach (var key in batch)
                    {
                        var found = model.Contains(key);
                        modelSeen.Add(found);
                        if (found) continue;
                        model.Add(key);
                        while (model.Count > capacity) model.RemoveAt(0);
                    }

                    var lookup = new RecentSet<int, int>.BatchLookup(set);
                    var added = new List<int>();
                    foreach (var key in batch)
                    {
                        var found = lookup.Find(key).IsSome;
                        seen.Add(found);
                        if (found) continue;
                        added.Add(key);
                        lookup.Added();
                    }

                    set = set.AddNew([.. added], k => k * 10);
                }

                var kept = set.Order.SelectMany(b => b).Skip(set.Evicted).ToList();
                var described = $"capacity {capacity}, batches {string.Join(" | ", batches.Select(b => string.Join(",", b)))}";
                return seen.SequenceEqual(modelSeen).Label($"lookups differ: {described}")
                    .And(kept.SequenceEqual(model)).Label($"kept [{string.Join(",", kept)}], model [{string.Join(",", model)}]: {described}")
                    .And(set.Entries.Keys.Order().SequenceEqual(model.Order())).Label("entries differ from the order")
                    .And(model.All(k => set.Find(k) == Valued(k))).Label("values differ");

                static LanguageExt.Option<int> Valued(int k) => k * 10;
            });
}
