import Foundation

/// Why credentials could not be found or fetched. The message never holds a secret.
package struct CredentialError: Error, Equatable, Sendable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// A one-shot HTTP request to a credentials endpoint (STS, the container agent, the instance metadata service).
package struct CredentialsHTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]
    package var timeoutSeconds: Double

    package init(
        method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        timeoutSeconds: Double
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The answer of a credentials endpoint.
package struct CredentialsHTTPResponse: Sendable {
    package var status: Int
    package var body: [UInt8]

    package init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// What the credential providers need of HTTP; the executable hands them the storage-server client's.
package protocol CredentialsHTTPClient: Sendable {
    func send(_ request: CredentialsHTTPRequest) async throws -> CredentialsHTTPResponse
}

/// One source of AWS credentials.
package protocol CredentialProvider: Sendable {
    /// What logs, `/readyz` and `/stats` call the source, e.g. `environment` or `web identity (arn:…)`.
    var source: String { get }
    /// Fetches credentials now.
    func fetch() async throws(CredentialError) -> AWSCredentials
}

/// Credentials given once: the environment variables.
package struct StaticCredentialProvider: CredentialProvider {
    package let source: String
    let credentials: AWSCredentials

    package init(source: String, credentials: AWSCredentials) {
        self.source = source
        self.credentials = credentials
    }

    package func fetch() async throws(CredentialError) -> AWSCredentials { credentials }
}

/// Keys of a profile in the shared credentials or config file, read again on each fetch: at start, and on
/// SIGHUP, so that keys a tool rewrote are picked up.
package struct ProfileCredentialProvider: CredentialProvider {
    let profile: String
    let credentialsFile: String
    let configFile: String
    let readFile: @Sendable (String) -> String?

    package var source: String { "profile \(profile)" }

    package func fetch() async throws(CredentialError) -> AWSCredentials {
        guard
            let keys = try ProfileFiles(credentialsFile: credentialsFile, configFile: configFile, read: readFile)
                .keys(of: profile)
        else {
            throw CredentialError("profile \(profile) has no aws_access_key_id in \(credentialsFile) or \(configFile)")
        }
        return keys
    }
}

/// The shared credentials and config files, as the SDKs read them: `[name]` in the credentials file,
/// `[profile name]` (or `[default]`) in the config file; the credentials file wins.
struct ProfileFiles {
    let credentialsFile: String
    let configFile: String
    let credentials: INIFile?
    let config: INIFile?

    init(credentialsFile: String, configFile: String, read: (String) -> String?) throws(CredentialError) {
        self.credentialsFile = credentialsFile
        self.configFile = configFile
        func parse(_ path: String) throws(CredentialError) -> INIFile? {
            guard let text = read(path) else { return nil }
            do {
                return try INIFile(parsing: text)
            } catch {
                throw CredentialError("\(path): \(error)")
            }
        }
        credentials = try parse(credentialsFile)
        config = try parse(configFile)
    }

    func credentialsSection(_ profile: String) -> INIFile.Section? {
        credentials?.section(profile)
    }

    func configSection(_ profile: String) -> INIFile.Section? {
        profile == "default"
            ? config?.section("default") ?? config?.section("profile default")
            : config?.section("profile \(profile)")
    }

    /// The static keys of `profile`, nil when neither file gives it an access key id.
    func keys(of profile: String) throws(CredentialError) -> AWSCredentials? {
        for (section, file) in [(credentialsSection(profile), credentialsFile), (configSection(profile), configFile)] {
            guard let section, let key = section.value("aws_access_key_id"), !key.isEmpty else { continue }
            guard let secret = section.value("aws_secret_access_key"), !secret.isEmpty else {
                throw CredentialError(
                    "profile \(profile) in \(file) has aws_access_key_id but no aws_secret_access_key")
            }
            let token = section.value("aws_session_token").flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
        }
        return nil
    }
}

/// `AssumeRoleWithWebIdentity` with a token file (EKS service accounts, other OIDC providers). The call is
/// unsigned; the token file is read again on each fetch because the platform rotates it.
package struct WebIdentityCredentialProvider: CredentialProvider {
    let roleARN: String
    let tokenFile: String
    let sessionName: String
    let endpoint: String
    let http: any CredentialsHTTPClient
    let readFile: @Sendable (String) -> String?

    package var source: String { "web identity (\(roleARN))" }

    package func fetch() async throws(CredentialError) -> AWSCredentials {
        guard let token = readFile(tokenFile)?.trimmingSpacesAndNewlines(), !token.isEmpty else {
            throw CredentialError("cannot read the web identity token file \(tokenFile)")
        }
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ].map { "\($0.0)=\(FormEncoding.encode($0.1))" }.joined(separator: "&")
        let response = try await send(
            CredentialsHTTPRequest(
                method: "POST", url: endpoint,
                headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                body: Array(form.utf8), timeoutSeconds: 10),
            via: http, what: "STS AssumeRoleWithWebIdentity at \(endpoint)")
        let xml = response.text
        guard response.status == 200 else {
            let code = XMLText.first("Code", in: xml) ?? "HTTP \(response.status)"
            let message = XMLText.first("Message", in: xml).map { ": \($0)" } ?? ""
            throw CredentialError("STS AssumeRoleWithWebIdentity at \(endpoint) refused: \(code)\(message)")
        }
        guard let key = XMLText.first("AccessKeyId", in: xml), let secret = XMLText.first("SecretAccessKey", in: xml),
            let sessionToken = XMLText.first("SessionToken", in: xml)
        else {
            throw CredentialError("STS AssumeRoleWithWebIdentity at \(endpoint) answered without credentials")
        }
        return AWSCredentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: sessionToken,
            expiration: XMLText.first("Expiration", in: xml).flatMap { CalendarTime.unixSeconds(iso8601: $0) })
    }
}

/// The container credentials endpoint (ECS task roles, EKS Pod Identity): a GET answering JSON.
package struct ContainerCredentialProvider: CredentialProvider {
    let url: String
    let authorizationToken: String?
    let authorizationTokenFile: String?
    let http: any CredentialsHTTPClient
    let readFile: @Sendable (String) -> String?

    /// The endpoint's scheme and authority only: the SDKs treat the path (the task's credentials id) as a secret.
    package var source: String {
        guard let start = url.range(of: "://")?.upperBound else { return "container endpoint" }
        let authority = url[start...].prefix { $0 != "/" && $0 != "?" }
        return "container endpoint \(url[..<start])\(authority)/…"
    }

    package func fetch() async throws(CredentialError) -> AWSCredentials {
        var headers: [(name: String, value: String)] = []
        if let file = authorizationTokenFile {
            guard let token = readFile(file)?.trimmingSpacesAndNewlines() else {
                throw CredentialError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file)")
            }
            headers.append(("Authorization", token))
        } else if let token = authorizationToken {
            headers.append(("Authorization", token))
        }
        let response = try await send(
            CredentialsHTTPRequest(method: "GET", url: url, headers: headers, timeoutSeconds: 5), via: http,
            what: "the \(source)")
        return try CredentialsJSON.parse(response, from: "the \(source)")
    }
}

/// The EC2 instance metadata service, version 2: a session token first, then the role's credentials.
package struct InstanceMetadataCredentialProvider: CredentialProvider {
    let endpoint: String
    let http: any CredentialsHTTPClient

    package var source: String { "instance metadata \(endpoint)" }

    package func fetch() async throws(CredentialError) -> AWSCredentials {
        let what = "the instance metadata service at \(endpoint)"
        let tokenResponse = try await send(
            CredentialsHTTPRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], timeoutSeconds: 1),
            via: http, what: what)
        guard tokenResponse.status == 200 else {
            throw CredentialError("\(what) refused a session token (HTTP \(tokenResponse.status))")
        }
        let token = tokenResponse.text.trimmingSpacesAndNewlines()
        let header = [(name: "X-aws-ec2-metadata-token", value: token)]
        let base = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await send(
            CredentialsHTTPRequest(method: "GET", url: base, headers: header, timeoutSeconds: 1), via: http, what: what)
        guard roles.status == 200,
            let role = roles.text.split(whereSeparator: \.isNewline).first.map({
                String($0).trimmingSpacesAndNewlines()
            }),
            !role.isEmpty
        else {
            throw CredentialError("\(what) has no IAM role for this instance (HTTP \(roles.status))")
        }
        let response = try await send(
            CredentialsHTTPRequest(method: "GET", url: base + role, headers: header, timeoutSeconds: 1), via: http,
            what: what)
        return try CredentialsJSON.parse(response, from: what)
    }
}

private func send(_ request: CredentialsHTTPRequest, via http: any CredentialsHTTPClient, what: String)
    async throws(CredentialError) -> CredentialsHTTPResponse
{
    do {
        return try await http.send(request)
    } catch {
        throw CredentialError("\(what) could not be reached: \(error)")
    }
}

/// The JSON the container and instance metadata endpoints answer with.
enum CredentialsJSON {
    static func parse(_ response: CredentialsHTTPResponse, from what: String) throws(CredentialError) -> AWSCredentials
    {
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard response.status == 200, let object else {
            let detail = (object?["Message"] as? String).map { ": \($0)" } ?? ""
            throw CredentialError("\(what) answered HTTP \(response.status)\(detail)")
        }
        if let code = object["Code"] as? String, code != "Success" {
            throw CredentialError("\(what) answered \(code): \(object["Message"] as? String ?? "")")
        }
        guard let key = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String else {
            throw CredentialError("\(what) answered without AccessKeyId and SecretAccessKey")
        }
        return AWSCredentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: object["Token"] as? String,
            expiration: (object["Expiration"] as? String).flatMap { CalendarTime.unixSeconds(iso8601: $0) })
    }
}

/// Text of simple XML elements, as STS answers: no attributes inside the wanted tag, standard entities.
enum XMLText {
    static func first(_ tag: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(tag)>"),
            let close = xml.range(of: "</\(tag)>", range: open.upperBound..<xml.endIndex)
        else { return nil }
        return xml[open.upperBound..<close.lowerBound]
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

/// `application/x-www-form-urlencoded` values, RFC 3986 style (unreserved characters kept).
enum FormEncoding {
    static func encode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    func trimmingSpacesAndNewlines() -> String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
