/// AWS credentials: an access key id, its secret and, for temporary credentials, a session token and the moment
/// they stop being valid.
///
/// The description names the key id and source only: a secret must never reach a log line, a metric or an error
/// message, and string interpolation of a value is the easy way for it to get there.
package struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    package var accessKeyID: String
    package var secretAccessKey: String
    package var sessionToken: String?
    /// Unix time (seconds) after which the credentials are refused; nil for long-term keys.
    package var expiration: Double?

    package init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Double? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    package var description: String {
        "AWSCredentials(\(accessKeyID)\(sessionToken == nil ? "" : ", temporary"))"
    }
}
