import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// TLS for a listener from a PEM certificate chain and key, which ``reload()`` reads again (on SIGHUP):
/// connections accepted afterwards use the new pair, open ones keep theirs.
package final class ServerTLS: Sendable {
    package let certificateFile: String
    package let keyFile: String
    private let context: NIOLockedValueBox<NIOSSLContext>

    package init(certificateFile: String, keyFile: String) throws {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        context = NIOLockedValueBox(try Self.makeContext(certificateFile: certificateFile, keyFile: keyFile))
    }

    /// Reads the files again; on failure the pair in use stays, and the error says why.
    package func reload() throws {
        let fresh = try Self.makeContext(certificateFile: certificateFile, keyFile: keyFile)
        context.withLockedValue { $0 = fresh }
    }

    /// The handler that terminates TLS on a new connection.
    func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context.withLockedValue { $0 })
    }

    private static func makeContext(certificateFile: String, keyFile: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw ServerTLSError("cannot read the certificate chain \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw ServerTLSError("\(certificateFile) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ServerTLSError("cannot read the private key \(keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerTLSError("cannot use \(certificateFile) with \(keyFile): \(error)")
        }
    }
}

/// A certificate or key that cannot be used, with the file and the reason.
package struct ServerTLSError: Error, CustomStringConvertible {
    package var description: String

    init(_ description: String) {
        self.description = description
    }
}
