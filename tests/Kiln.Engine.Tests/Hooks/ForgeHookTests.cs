using System.Net;
using System.Text;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// Forge webhooks against a real server, sent by the fake forge as GitHub, GitLab and Forgejo send
/// them: a signed delivery is stored exactly as received under its delivery key and answered 202,
/// a repeat answers 200 with the first event, and what fails verification is refused and kept as a
/// rejected event that never takes a real delivery's key.
/// </summary>
public sealed class ForgeHookTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private FakeForge _forge = null!;
    private HookFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _forge = await FakeForge.StartAsync();
        _farm = new HookFarm(server, _forge);
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    [Theory]
    [InlineData("github")]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task A_signed_push_is_stored_byte_for_byte_under_its_delivery_key_and_answered_202(string kind)
    {
        var (_, repo, link, _) = await _farm.LinkedAsync(kind);
        var sha = new string('1', 40);

        var delivery = (await _forge.PushAsync(repo, "main", sha)).Single();

        Assert.Equal(202, delivery.StatusCode);
        var accepted = await HookFarm.AcceptedAsync(delivery);
        Assert.False(accepted.Duplicate);
        Assert.Equal(EventStates.Received, accepted.State);
        var stored = await _farm.EventAsync(accepted.EventId);
        Assert.Equal(kind, stored.Source);
        Assert.Equal(delivery.Guid, stored.DeliveryKey);
        Assert.Equal(EventTypes.Push, stored.Type);
        Assert.Equal(HookFarm.ForRules, stored.State);
        Assert.Equal(delivery.Body, stored.Body);
        Assert.Equal([link.Id], stored.LinkIds);
        Assert.Equal(repo.FullName, stored.Facts.Repository);
        Assert.Equal("refs/heads/main", stored.Facts.Ref);
        Assert.Equal("main", stored.Facts.Branch);
        Assert.Equal(sha, stored.Facts.Sha);
        Assert.Equal("alice", stored.Facts.Sender);
        // The headers kept name the event; no signature or token is kept.
        Assert.DoesNotContain("Signature", stored.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Token", stored.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("a-webhook-secret", stored.Headers, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("github")]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task The_same_delivery_three_times_is_one_event_and_each_repeat_answers_200_with_its_id(string kind)
    {
        var (_, repo, _, _) = await _farm.LinkedAsync(kind);
        var first = (await _forge.PushAsync(repo, "main", new string('2', 40))).Single();
        var again = await _forge.RedeliverAsync(first);
        var third = await _forge.RedeliverAsync(first);

        var id = (await HookFarm.AcceptedAsync(first)).EventId;
        Assert.Equal(202, first.StatusCode);
        foreach (var repeat in new[] { again, third })
        {
            Assert.Equal(200, repeat.StatusCode);
            var answer = await HookFarm.AcceptedAsync(repeat);
            Assert.True(answer.Duplicate);
            Assert.Equal(id, answer.EventId);
        }
        Assert.Single(await _farm.EventsAsync("source = @key AND facts->>'repository' = '" + repo.FullName + "'", key: kind));
    }

    [Fact]
    public async Task Ten_copies_of_one_delivery_sent_at_once_store_one_event_and_one_answer_is_202()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("gitlab");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('c', 40));
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        var guid = Guid.NewGuid().ToString();

        var copies = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => _forge.SendAsync(hook, name, null, bytes, guid: guid))));

        Assert.Equal(1, copies.Count(c => c.StatusCode == 202));
        Assert.Equal(9, copies.Count(c => c.StatusCode == 200));
        var ids = new HashSet<long>();
        foreach (var copy in copies)
        {
            ids.Add((await HookFarm.AcceptedAsync(copy)).EventId);
        }
        Assert.Single(ids);
        Assert.Single(await _farm.EventsAsync("source = 'gitlab' AND delivery_key = @key", key: guid));
    }

    [Fact]
    public async Task An_organisation_hook_and_a_repository_hook_deliver_one_push_as_two_events_of_the_same_commit()
    {
        const string secret = "one-secret-for-both-hooks";
        var (_, repo, link, _) = await _farm.LinkedAsync("github", secret);
        repo.AddHook(_farm.HookUrl("github"), secret, organisation: true);
        var sha = new string('3', 40);

        var deliveries = await _forge.PushAsync(repo, "main", sha);

        Assert.Equal(2, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal(202, d.StatusCode));
        var stored = await _farm.EventsAsync("facts->>'repository' = @key", key: repo.FullName);
        Assert.Equal(2, stored.Count);
        Assert.NotEqual(stored[0].DeliveryKey, stored[1].DeliveryKey);
        // The same facts: the rules' input key (repository + commit + workflow file) makes them one workflow.
        Assert.All(stored, e => Assert.Equal((repo.FullName, "refs/heads/main", sha, link.Id), (e.Facts.Repository!, e.Facts.Ref!, e.Facts.Sha!, e.LinkIds.Single())));
    }

    [Theory]
    [InlineData("github", "X-Hub-Signature-256")]
    [InlineData("gitlab", "X-Gitlab-Token")]
    [InlineData("forgejo", "X-Forgejo-Signature")]
    public async Task A_bad_signature_is_401_kept_as_a_rejected_event_and_never_takes_the_real_deliverys_key(string kind, string header)
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync(kind);
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('4', 40));
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        var guid = Guid.NewGuid().ToString();

        var forged = await _forge.SendAsync(hook, name, null, bytes, tamper: r =>
        {
            var value = r.Headers.GetValues(header).Single();
            r.Headers.Remove(header);
            r.Headers.Add(header, value[..^4] + (value.EndsWith("0000", StringComparison.Ordinal) ? "1111" : "0000"));
            if (kind == "forgejo")
            {
                r.Headers.Remove("X-Gitea-Signature");
            }
        }, guid: guid);
        var real = await _forge.SendAsync(hook, name, null, bytes, guid: guid);

        Assert.Equal(401, forged.StatusCode);
        Assert.Contains("signature", forged.ResponseBody, StringComparison.Ordinal);
        var rejected = await _farm.EventAsync(HookFarm.RejectedId(forged));
        Assert.Equal(EventStates.Rejected, rejected.State);
        Assert.Null(rejected.DeliveryKey);
        Assert.Empty(rejected.LinkIds);
        Assert.Contains("rejected", rejected.Effects, StringComparison.Ordinal);
        Assert.Equal(202, real.StatusCode);
        Assert.Equal(guid, (await _farm.EventAsync((await HookFarm.AcceptedAsync(real)).EventId)).DeliveryKey);
    }

    [Fact]
    public async Task A_delivery_without_any_signature_is_refused_401()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("github");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('5', 40));

        var unsigned = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()), tamper: r => r.Headers.Remove("X-Hub-Signature-256"));

        Assert.Equal(401, unsigned.StatusCode);
        Assert.Contains("no signature", unsigned.ResponseBody, StringComparison.Ordinal);
        Assert.Equal(EventStates.Rejected, (await _farm.EventAsync(HookFarm.RejectedId(unsigned))).State);
    }

    [Fact]
    public async Task A_delivery_for_a_repository_no_project_links_is_404_and_kept_as_rejected()
    {
        var repo = _forge.Repository("github", $"{HookFarm.Unique("nobody")}/unlinked");
        var hook = repo.AddHook(_farm.HookUrl("github"), "whatever-secret-of-theirs");

        var delivery = (await _forge.PushAsync(repo, "main", new string('6', 40))).Single();

        Assert.Equal(404, delivery.StatusCode);
        Assert.Contains("kiln repo link", delivery.ResponseBody, StringComparison.Ordinal);
        var rejected = await _farm.EventAsync(HookFarm.RejectedId(delivery));
        Assert.Equal((EventStates.Rejected, repo.FullName), (rejected.State, rejected.Facts.Repository));
        Assert.Equal(hook.Id, repo.Hooks.Single().Id);
    }

    [Fact]
    public async Task Malformed_deliveries_are_400_naming_what_is_wrong_and_kept_as_rejected_never_as_500()
    {
        var (_, repo, link, hook) = await _farm.LinkedAsync("github");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('7', 40));
        var noAfter = body.DeepClone().AsObject();
        noAfter.Remove("after");
        var nulInRef = body.DeepClone().AsObject();
        nulInRef["ref"] = "refs/heads/ma\u0000in";
        var shortSha = body.DeepClone().AsObject();
        shortSha["after"] = "abc";

        var notJson = await _forge.SendAsync(hook, name, null, "{not json"u8.ToArray());
        var missing = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(noAfter.ToJsonString()));
        var nul = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(nulInRef.ToJsonString()));
        var sha = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(shortSha.ToJsonString()));
        var noEvent = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()), tamper: r => r.Headers.Remove("X-GitHub-Event"));
        var noDelivery = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()), tamper: r => r.Headers.Remove("X-GitHub-Delivery"));

        foreach (var (delivery, says) in new[] { (notJson, "not JSON"), (missing, "after"), (nul, "ref"), (sha, "not a commit id"), (noEvent, "X-GitHub-Event"), (noDelivery, "X-GitHub-Delivery") })
        {
            Assert.True(delivery.StatusCode == 400, $"{says}: {delivery.StatusCode} {delivery.ResponseBody}");
            Assert.Contains(says, delivery.ResponseBody, StringComparison.Ordinal);
            var rejected = await _farm.EventAsync(HookFarm.RejectedId(delivery));
            Assert.Equal((EventStates.Rejected, (string?)null), (rejected.State, rejected.DeliveryKey));
        }
        // A verified but malformed payload is kept with the link that verified it, so its owners can see it.
        Assert.Equal([link.Id], (await _farm.EventAsync(HookFarm.RejectedId(missing))).LinkIds);
    }

    [Fact]
    public async Task A_body_of_exactly_25_MiB_is_accepted_and_one_byte_more_is_413_kept_without_its_body()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("github");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('8', 40));
        var skeleton = Encoding.UTF8.GetBytes(body.ToJsonString());
        byte[] Sized(int size)
        {
            // {"padding":"xxx…", …the push…}
            var head = "{\"padding\":\""u8.ToArray();
            var tail = Encoding.UTF8.GetBytes("\"," + Encoding.UTF8.GetString(skeleton, 1, skeleton.Length - 1));
            var bytes = new byte[size];
            head.CopyTo(bytes, 0);
            bytes.AsSpan(head.Length, size - head.Length - tail.Length).Fill((byte)'x');
            tail.CopyTo(bytes, size - tail.Length);
            return bytes;
        }
        const int cap = 25 * 1024 * 1024;

        var atCap = await _forge.SendAsync(hook, name, null, Sized(cap));
        var over = await _forge.SendAsync(hook, name, null, Sized(cap + 1));
        var chunked = await _forge.SendAsync(hook, name, null, Sized(cap + 1), tamper: r => r.Content = new ChunkedContent(((ByteArrayContent)r.Content!).ReadAsByteArrayAsync().Result));

        Assert.Equal(202, atCap.StatusCode);
        Assert.Equal(cap, (await _farm.EventAsync((await HookFarm.AcceptedAsync(atCap)).EventId)).BodySize);
        foreach (var refused in new[] { over, chunked })
        {
            Assert.True(refused.StatusCode == 413, $"{refused.StatusCode} {refused.ResponseBody}");
            var rejected = await _farm.EventAsync(HookFarm.RejectedId(refused));
            Assert.Equal(EventStates.Rejected, rejected.State);
            Assert.Null(rejected.Body);
            Assert.True(rejected.BodySize > cap);
        }
    }

    [Fact]
    public async Task A_ping_is_stored_and_answered_and_event_types_kiln_does_not_act_on_are_stored_ignored()
    {
        var (_, repo, link, hook) = await _farm.LinkedAsync("github", "shared-org-and-repo-secret");
        var org = repo.AddHook(_farm.HookUrl("github"), "shared-org-and-repo-secret", organisation: true);

        var ping = await _forge.PingAsync(hook);
        var orgPing = await _forge.PingAsync(org);
        var (_, issueBody) = FakeForgePayloads.Release(repo, "v1", "published", new string('9', 40));
        var issue = await _forge.SendAsync(hook, "issues", "opened", Encoding.UTF8.GetBytes(issueBody.ToJsonString()));
        var closed = (await _forge.PullRequestAsync(repo, 7, "closed", "topic", new string('a', 40)))[0];
        var opened = (await _forge.PullRequestAsync(repo, 7, "opened", "topic", new string('a', 40)))[0];
        var release = (await _forge.ReleaseAsync(repo, "v1.0", "published", new string('b', 40)))[0];

        foreach (var (delivery, type, state) in new[]
        {
            (ping, EventTypes.Ping, EventStates.Ignored), (orgPing, EventTypes.Ping, EventStates.Ignored), (issue, "issues", EventStates.Ignored),
            (closed, EventTypes.PullRequest, EventStates.Ignored), (opened, EventTypes.PullRequest, HookFarm.ForRules), (release, EventTypes.Release, HookFarm.ForRules),
        })
        {
            Assert.True(delivery.StatusCode == 202, $"{type}: {delivery.StatusCode} {delivery.ResponseBody}");
            var stored = await _farm.EventAsync((await HookFarm.AcceptedAsync(delivery)).EventId);
            Assert.Equal((type, state, link.Id), (stored.Type, stored.State, stored.LinkIds.Single()));
            if (state == EventStates.Ignored)
            {
                Assert.Contains("\"ignored\"", stored.Effects, StringComparison.Ordinal);
            }
        }
        var pull = await _farm.EventAsync((await HookFarm.AcceptedAsync(opened)).EventId);
        Assert.Equal((7L, "topic", "main", "refs/pull/7/head", "opened"), (pull.Facts.PullRequest!.Value, pull.Facts.Branch!, pull.Facts.BaseBranch!, pull.Facts.Ref!, pull.Facts.Action!));
        Assert.Equal("v1.0", (await _farm.EventAsync((await HookFarm.AcceptedAsync(release)).EventId)).Facts.Tag);
    }

    [Theory]
    [InlineData("github")]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task A_tag_push_is_a_tag_event_and_a_deleted_branch_is_stored_ignored(string kind)
    {
        var (_, repo, _, _) = await _farm.LinkedAsync(kind);
        var tag = (await _forge.PushTagAsync(repo, "v2.0", new string('c', 40))).Single();
        await _forge.PushAsync(repo, "gone", new string('d', 40));
        var (name, deleted) = FakeForgePayloads.Push(repo, "refs/heads/gone", new string('d', 40), FakeForgePayloads.Zero);
        var delete = await _forge.SendAsync(repo.Hooks.Single(), name, null, Encoding.UTF8.GetBytes(deleted.ToJsonString()));

        var tagged = await _farm.EventAsync((await HookFarm.AcceptedAsync(tag)).EventId);
        Assert.Equal((EventTypes.Tag, "v2.0", new string('c', 40), HookFarm.ForRules), (tagged.Type, tagged.Facts.Tag!, tagged.Facts.Sha!, tagged.State));
        var gone = await _farm.EventAsync((await HookFarm.AcceptedAsync(delete)).EventId);
        Assert.Equal((EventStates.Ignored, true), (gone.State, gone.Facts.Deleted));
        Assert.Contains("deleted branch 'gone'", gone.Effects, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gitlab_merge_request_update_with_new_commits_is_a_synchronize_and_one_without_is_ignored()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("gitlab");
        var sync = (await _forge.PullRequestAsync(repo, 3, "synchronize", "feature", new string('e', 40))).Single();
        var (name, body) = FakeForgePayloads.PullRequest(repo, 3, "synchronize", "feature", new string('e', 40));
        body["object_attributes"]!.AsObject().Remove("oldrev");
        var relabel = await _forge.SendAsync(hook, name, "update", Encoding.UTF8.GetBytes(body.ToJsonString()));

        var synchronized = await _farm.EventAsync((await HookFarm.AcceptedAsync(sync)).EventId);
        Assert.Equal((HookFarm.ForRules, "synchronize", 3L, "feature"), (synchronized.State, synchronized.Facts.Action!, synchronized.Facts.PullRequest!.Value, synchronized.Facts.Branch!));
        Assert.Equal(EventStates.Ignored, (await _farm.EventAsync((await HookFarm.AcceptedAsync(relabel)).EventId)).State);
    }

    [Fact]
    public async Task A_gitlab_standard_webhooks_signature_must_verify_and_be_recent_even_when_the_token_is_right()
    {
        var secret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        var (_, repo, _, hook) = await _farm.LinkedAsync("gitlab", secret, standardWebhooks: true);
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('f', 40));
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());

        var good = await _forge.SendAsync(hook, name, null, bytes);
        var tampered = await _forge.SendAsync(hook, name, null, bytes, tamper: r =>
        {
            r.Headers.Remove("webhook-signature");
            r.Headers.Add("webhook-signature", "v1," + Convert.ToBase64String(new byte[32]));
        });
        var stale = await _forge.SendAsync(hook, name, null, bytes, tamper: r =>
        {
            r.Headers.Remove("webhook-timestamp");
            r.Headers.Add("webhook-timestamp", DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        });

        Assert.Equal(202, good.StatusCode);
        Assert.Equal(401, tampered.StatusCode);
        Assert.Equal(401, stale.StatusCode);
    }

    [Fact]
    public async Task A_gitea_signed_delivery_is_accepted_on_the_forgejo_hook()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("forgejo");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('1', 64));

        var gitea = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()), tamper: r =>
        {
            foreach (var header in new[] { "X-Forgejo-Signature", "X-Forgejo-Event", "X-Forgejo-Delivery" })
            {
                r.Headers.Remove(header);
            }
        });

        Assert.Equal(202, gitea.StatusCode);
        var stored = await _farm.EventAsync((await HookFarm.AcceptedAsync(gitea)).EventId);
        Assert.Equal((gitea.Guid, new string('1', 64)), (stored.DeliveryKey!, stored.Facts.Sha!));
    }

    /// <summary>A body sent without Content-Length (chunked), as a forge streaming a large payload may.</summary>
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
