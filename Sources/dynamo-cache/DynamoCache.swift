import ArgumentParser

/// The `dynamo-cache` command: a write-through caching proxy for DynamoDB's HTTP JSON API.
@main
struct DynamoCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dynamo-cache",
        abstract: "A write-through caching proxy for Amazon DynamoDB's HTTP JSON API.",
        discussion: """
            Point any DynamoDB client (an SDK, the AWS CLI, boto3) at the proxy by changing only its endpoint URL.
            Every option can also be set by the environment variable named in its help; a flag wins over the \
            environment.
            """,
        subcommands: [Serve.self, Stats.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
