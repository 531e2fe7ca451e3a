using System.Text.Json.Nodes;

namespace Kiln.Testing;

/// <summary>
/// Webhook payloads as each forge writes them (the fields Kiln reads, and enough of the rest to
/// look like the real thing): the event header's value and the JSON body.
/// </summary>
public static class FakeForgePayloads
{
    public const string Zero = "0000000000000000000000000000000000000000";

    /// <summary>A push of <paramref name="ref"/> (refs/heads/… or refs/tags/…) from <paramref name="before"/> to <paramref name="after"/>.</summary>
    public static (string Event, JsonObject Body) Push(FakeRepository repo, string @ref, string before, string after, string sender = "alice")
    {
        var isTag = @ref.StartsWith("refs/tags/", StringComparison.Ordinal);
        var deleted = after == Zero;
        switch (repo.Kind)
        {
            case "gitlab":
                return (isTag ? "Tag Push Hook" : "Push Hook", new JsonObject
                {
                    ["object_kind"] = isTag ? "tag_push" : "push",
                    ["event_name"] = isTag ? "tag_push" : "push",
                    ["before"] = before,
                    ["after"] = after,
                    ["ref"] = @ref,
                    ["ref_protected"] = false,
                    ["checkout_sha"] = deleted ? null : after,
                    ["user_id"] = 4,
                    ["user_username"] = sender,
                    ["project_id"] = repo.Id,
                    ["project"] = GitLabProject(repo),
                    ["commits"] = deleted ? new JsonArray() : new JsonArray(new JsonObject { ["id"] = after, ["message"] = "change" }),
                    ["total_commits_count"] = deleted ? 0 : 1,
                    ["repository"] = new JsonObject { ["name"] = Name(repo), ["git_http_url"] = repo.CloneUrl },
                });
            case "forgejo":
                return ("push", new JsonObject
                {
                    ["ref"] = @ref,
                    ["before"] = before,
                    ["after"] = after,
                    ["compare_url"] = $"{repo.Forge.Url}/{repo.FullName}/compare/{before}...{after}",
                    ["commits"] = deleted ? new JsonArray() : new JsonArray(new JsonObject { ["id"] = after, ["message"] = "change\n" }),
                    ["total_commits"] = deleted ? 0 : 1,
                    ["head_commit"] = deleted ? null : new JsonObject { ["id"] = after, ["message"] = "change\n" },
                    ["repository"] = ForgejoRepository(repo),
                    ["pusher"] = User(sender),
                    ["sender"] = User(sender),
                });
            default:
                return ("push", new JsonObject
                {
                    ["ref"] = @ref,
                    ["before"] = before,
                    ["after"] = after,
                    ["created"] = before == Zero,
                    ["deleted"] = deleted,
                    ["forced"] = false,
                    ["base_ref"] = null,
                    ["compare"] = $"{repo.Forge.Url}/{repo.FullName}/compare/{before[..12]}...{after[..12]}",
                    ["commits"] = deleted ? new JsonArray() : new JsonArray(new JsonObject { ["id"] = after, ["message"] = "change" }),
                    ["head_commit"] = deleted ? null : new JsonObject { ["id"] = after, ["message"] = "change" },
                    ["repository"] = GitHubRepository(repo),
                    ["pusher"] = new JsonObject { ["name"] = sender, ["email"] = $"{sender}@example.org" },
                    ["sender"] = User(sender),
                });
        }
    }

    /// <summary>A pull request (GitLab: merge request) event; <paramref name="action"/> as GitHub spells it (opened, reopened, synchronize, closed).</summary>
    public static (string Event, JsonObject Body) PullRequest(FakeRepository repo, long number, string action, string headBranch, string sha, string baseBranch = "main", string sender = "alice")
    {
        switch (repo.Kind)
        {
            case "gitlab":
                var gitlabAction = action switch { "opened" => "open", "reopened" => "reopen", "synchronize" => "update", "closed" => "close", _ => action };
                var attributes = new JsonObject
                {
                    ["iid"] = number,
                    ["id"] = 1000 + number,
                    ["action"] = gitlabAction,
                    ["state"] = action == "closed" ? "closed" : "opened",
                    ["source_branch"] = headBranch,
                    ["target_branch"] = baseBranch,
                    ["last_commit"] = new JsonObject { ["id"] = sha, ["message"] = "change" },
                    ["source"] = GitLabProject(repo),
                    ["target"] = GitLabProject(repo),
                };
                if (action == "synchronize")
                {
                    attributes["oldrev"] = new string('e', 40);
                }
                return ("Merge Request Hook", new JsonObject
                {
                    ["object_kind"] = "merge_request",
                    ["event_type"] = "merge_request",
                    ["user"] = new JsonObject { ["username"] = sender, ["name"] = sender },
                    ["project"] = GitLabProject(repo),
                    ["object_attributes"] = attributes,
                });
            default:
                var forgejo = repo.Kind == "forgejo";
                var repository = forgejo ? ForgejoRepository(repo) : GitHubRepository(repo);
                return ("pull_request", new JsonObject
                {
                    ["action"] = forgejo && action == "synchronize" ? "synchronized" : action,
                    ["number"] = number,
                    ["pull_request"] = new JsonObject
                    {
                        ["number"] = number,
                        ["state"] = action == "closed" ? "closed" : "open",
                        ["head"] = new JsonObject { ["ref"] = headBranch, ["sha"] = sha, ["repo"] = repository.DeepClone() },
                        ["base"] = new JsonObject { ["ref"] = baseBranch, ["sha"] = new string('b', 40), ["repo"] = repository.DeepClone() },
                    },
                    ["repository"] = repository,
                    ["sender"] = User(sender),
                });
        }
    }

    /// <summary>A release of <paramref name="tag"/>; <paramref name="action"/>: published (GitLab: create).</summary>
    public static (string Event, JsonObject Body) Release(FakeRepository repo, string tag, string action, string sha)
    {
        if (repo.Kind == "gitlab")
        {
            return ("Release Hook", new JsonObject
            {
                ["object_kind"] = "release",
                ["action"] = action == "published" ? "create" : action,
                ["tag"] = tag,
                ["name"] = tag,
                ["project"] = GitLabProject(repo),
                ["commit"] = new JsonObject { ["id"] = sha },
            });
        }
        return ("release", new JsonObject
        {
            ["action"] = action,
            ["release"] = new JsonObject { ["tag_name"] = tag, ["name"] = tag, ["target_commitish"] = repo.DefaultBranch, ["draft"] = false },
            ["repository"] = repo.Kind == "forgejo" ? ForgejoRepository(repo) : GitHubRepository(repo),
            ["sender"] = User("alice"),
        });
    }

    /// <summary>GitHub's ping, sent when a hook is made; an organisation's hook names the organisation and no repository.</summary>
    public static (string Event, JsonObject Body) Ping(FakeHook hook)
    {
        var body = new JsonObject
        {
            ["zen"] = "Keep it logically awesome.",
            ["hook_id"] = hook.Id,
            ["hook"] = new JsonObject { ["id"] = hook.Id, ["type"] = hook.Organisation ? "Organization" : "Repository", ["active"] = true },
            ["sender"] = User("alice"),
        };
        if (hook.Organisation)
        {
            body["organization"] = new JsonObject { ["login"] = hook.Repository.FullName.Split('/')[0], ["id"] = 77 };
        }
        else
        {
            body["repository"] = GitHubRepository(hook.Repository);
        }
        return ("ping", body);
    }

    private static string Name(FakeRepository repo) => repo.FullName[(repo.FullName.LastIndexOf('/') + 1)..];

    private static JsonObject User(string login) => new() { ["login"] = login, ["id"] = 1, ["username"] = login };

    private static JsonObject GitHubRepository(FakeRepository repo) => new()
    {
        ["id"] = repo.Id,
        ["name"] = Name(repo),
        ["full_name"] = repo.FullName,
        ["private"] = false,
        ["owner"] = User(repo.FullName.Split('/')[0]),
        ["html_url"] = $"{repo.Forge.Url}/{repo.FullName}",
        ["clone_url"] = repo.CloneUrl,
        ["default_branch"] = repo.DefaultBranch,
        ["master_branch"] = repo.DefaultBranch,
    };

    private static JsonObject ForgejoRepository(FakeRepository repo) => new()
    {
        ["id"] = repo.Id,
        ["name"] = Name(repo),
        ["full_name"] = repo.FullName,
        ["owner"] = User(repo.FullName.Split('/')[0]),
        ["html_url"] = $"{repo.Forge.Url}/{repo.FullName}",
        ["clone_url"] = repo.CloneUrl,
        ["default_branch"] = repo.DefaultBranch,
    };

    private static JsonObject GitLabProject(FakeRepository repo) => new()
    {
        ["id"] = repo.Id,
        ["name"] = Name(repo),
        ["path_with_namespace"] = repo.FullName,
        ["web_url"] = $"{repo.Forge.Url}/{repo.FullName}",
        ["git_http_url"] = repo.CloneUrl,
        ["default_branch"] = repo.DefaultBranch,
    };
}
