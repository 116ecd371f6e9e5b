import AWSAuth
import Foundation
import Logging
import NIOCore
import Proxy
import Server
import ServiceLifecycle
import UnixSignals
import Upstream

/// The proxy's own AWS credentials for `--upstream-auth sign`: found by the SDKs' chain, fetched once before
/// the listeners open, then refreshed in the background.
enum ProxyCredentials {
    /// `purpose` is the option that needs them, for errors (`--upstream-auth sign`, `--streams`).
    static func start(
        settings: ServeSettings, http: CredentialsHTTP, logger: Logger, purpose: String
    ) async throws -> CredentialsCache {
        let provider: any CredentialProvider
        do {
            provider = try CredentialChain.resolve(
                environment: ProcessInfo.processInfo.environment, region: settings.region, http: http)
        } catch {
            throw StartupError("\(purpose): \(error.message)")
        }
        let cache = CredentialsCache(provider: provider, clock: { Date().timeIntervalSince1970 })
        switch await cache.refresh() {
        case .success(let credentials):
            logger.info(
                "AWS credentials",
                metadata: [
                    "source": "\(provider.source)", "accessKeyID": "\(credentials.accessKeyID)",
                    "expiresInSeconds":
                        "\(credentials.expiration.map { Int($0 - Date().timeIntervalSince1970) } ?? -1)",
                ])
        case .failure(let error):
            if provider is InstanceMetadataCredentialProvider {
                // Nothing was configured and the metadata service, the last guess, did not answer either.
                throw StartupError(
                    "\(purpose): no AWS credentials found: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                        + "AWS_PROFILE and the shared files, AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN and "
                        + "AWS_CONTAINER_CREDENTIALS_* are not set, and \(error.message)")
            }
            // A configured source that fails now may answer in a moment: start, report not ready, retry.
            logger.error(
                "AWS credentials not available yet; retrying",
                metadata: ["source": "\(provider.source)", "error": "\(error.message)"])
        }
        return cache
    }
}

/// Keeps the proxy's credentials fresh until shutdown.
struct CredentialsRefresher: Service {
    let credentials: CredentialsCache
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await credentials.run(logger: logger) }
        // Long-term keys need no refresh and `run` returns at once; a service that returns early ends the whole
        // group, so this one stays until shutdown.
        try? await gracefulShutdown()
    }
}

/// Reads the client credentials file; errors name the file and the line.
enum ClientCredentialsFile {
    static func load(_ path: String) throws -> ClientCredentials {
        guard let text = CredentialChain.readFile(path) else {
            throw StartupError("--client-credentials: cannot read \(path)")
        }
        do {
            let clients = try ClientCredentials(parsing: text)
            guard clients.count > 0 else { throw StartupError("--client-credentials: \(path) names no client") }
            return clients
        } catch let error as CredentialError {
            throw StartupError("--client-credentials: \(path): \(error.message)")
        }
    }
}

/// On SIGHUP: the client credentials file and the listeners' certificates are read again, and the proxy's own
/// credentials fetched again (a profile a tool rewrote). What fails to load is reported and the old one stays;
/// connections are not dropped.
struct HangupReloader: Service {
    let clientCredentialsFile: String?
    let authenticator: ClientAuthenticator?
    let certificates: [(name: String, tls: ServerTLS)]
    let credentials: CredentialsCache?
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals { await reload() }
        }
    }

    func reload() async {
        if let credentials {
            switch await credentials.refresh() {
            case .success(let fresh):
                logger.info(
                    "AWS credentials fetched again",
                    metadata: ["source": "\(credentials.provider.source)", "accessKeyID": "\(fresh.accessKeyID)"])
            case .failure(let error):
                logger.error(
                    "AWS credentials not fetched again; the ones in hand stay", metadata: ["error": "\(error.message)"])
            }
        }
        if let file = clientCredentialsFile, let authenticator {
            do {
                let clients = try ClientCredentialsFile.load(file)
                authenticator.replace(clients)
                logger.info(
                    "client credentials reloaded", metadata: ["file": "\(file)", "clients": "\(clients.count)"])
            } catch {
                logger.error("client credentials not reloaded; the old ones stay", metadata: ["error": "\(error)"])
            }
        }
        for (name, tls) in certificates {
            do {
                try tls.reload()
                logger.info(
                    "certificate reloaded", metadata: ["listener": "\(name)", "file": "\(tls.certificateFile)"])
            } catch {
                logger.error(
                    "certificate not reloaded; the old one stays",
                    metadata: ["listener": "\(name)", "error": "\(error)"])
            }
        }
    }
}

/// A start-up failure the user can act on, printed as it is.
struct StartupError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
