import ArgumentParser
import Foundation

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

    /// As ArgumentParser's own main, except that an error a subcommand throws while running is reported with that
    /// subcommand's usage and help, not the root's.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
        } catch let error as ValidationError {
            let subcommand = type(of: command)
            let name = subcommand.configuration.commandName ?? "\(subcommand)".lowercased()
            FileHandle.standardError.write(
                Data(
                    """
                    Error: \(error.message)
                    Usage: \(usageString(for: subcommand))
                      See 'dynamo-cache \(name) --help' for more information.

                    """.utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}
