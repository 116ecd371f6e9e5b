import Foundation

/// Finds where the proxy's own AWS credentials come from, in the order the AWS SDKs look, with their variable
/// names:
/// 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`);
/// 2. the shared files: profile `AWS_PROFILE` (default `default`) in `AWS_SHARED_CREDENTIALS_FILE`
///    (`~/.aws/credentials`) or `AWS_CONFIG_FILE` (`~/.aws/config`), static keys or `role_arn` with
///    `web_identity_token_file`;
/// 3. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (`AWS_ROLE_SESSION_NAME`), STS at
///    `AWS_ENDPOINT_URL_STS` or the region's endpoint;
/// 4. the container endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
///    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
/// 5. the EC2 instance metadata service (IMDSv2) at `AWS_EC2_METADATA_SERVICE_ENDPOINT`, unless
///    `AWS_EC2_METADATA_DISABLED=true`.
///
/// The first source that is configured is the one used, as the SDKs do; a configured source that fails is an
/// error rather than a reason to try the next one (a silently different identity would be worse).
package enum CredentialChain {
    /// The provider of the first configured source. Throws when a source is configured only in part, or when
    /// none is and the instance metadata service is disabled. The metadata service is the fallback when nothing
    /// else is configured, so whether it answers is known only when it is asked.
    package static func resolve(
        environment: [String: String],
        region: String?,
        http: any CredentialsHTTPClient,
        readFile: @escaping @Sendable (String) -> String? = CredentialChain.readFile
    ) throws(CredentialError) -> any CredentialProvider {
        func value(_ name: String) -> String? {
            environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        // 1. Environment.
        switch (value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY")) {
        case (let key?, let secret?):
            return StaticCredentialProvider(
                source: "environment",
                credentials: AWSCredentials(
                    accessKeyID: key, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN")))
        case (.some, nil):
            throw CredentialError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, .some):
            throw CredentialError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (nil, nil):
            break
        }

        let webIdentitySessionName =
            value("AWS_ROLE_SESSION_NAME") ?? "dynamo-cache-\(Int(Date().timeIntervalSince1970))"
        let stsEndpoint =
            value("AWS_ENDPOINT_URL_STS") ?? value("AWS_ENDPOINT_URL")
            ?? region.map { "https://sts.\($0).amazonaws.com\($0.hasPrefix("cn-") ? ".cn" : "")" }
            ?? "https://sts.amazonaws.com"

        // 2. Shared files.
        let home = value("HOME") ?? "~"
        let explicitProfile = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE")
        let profile = explicitProfile ?? "default"
        let credentialsFile = value("AWS_SHARED_CREDENTIALS_FILE") ?? "\(home)/.aws/credentials"
        let configFile = value("AWS_CONFIG_FILE") ?? "\(home)/.aws/config"
        let files = try ProfileFiles(credentialsFile: credentialsFile, configFile: configFile, read: readFile)
        if try files.keys(of: profile) != nil {
            return ProfileCredentialProvider(
                profile: profile, credentialsFile: credentialsFile, configFile: configFile, readFile: readFile)
        }
        if let section = files.configSection(profile) ?? files.credentialsSection(profile),
            let roleARN = section.value("role_arn")
        {
            guard let tokenFile = section.value("web_identity_token_file") else {
                throw CredentialError(
                    "profile \(profile) assumes role \(roleARN) with source_profile, credential_source, SSO or a "
                        + "credential process, which dynamo-cache does not support; give it static keys, "
                        + "web_identity_token_file, or use the environment")
            }
            return WebIdentityCredentialProvider(
                roleARN: roleARN, tokenFile: tokenFile,
                sessionName: section.value("role_session_name") ?? webIdentitySessionName, endpoint: stsEndpoint,
                http: http, readFile: readFile)
        }
        if let explicitProfile {
            throw CredentialError(
                "AWS_PROFILE names profile \(explicitProfile), which has no credentials in \(credentialsFile) "
                    + "or \(configFile)")
        }

        // 3. Web identity from the environment.
        switch (value("AWS_WEB_IDENTITY_TOKEN_FILE"), value("AWS_ROLE_ARN")) {
        case (let tokenFile?, let roleARN?):
            return WebIdentityCredentialProvider(
                roleARN: roleARN, tokenFile: tokenFile, sessionName: webIdentitySessionName, endpoint: stsEndpoint,
                http: http, readFile: readFile)
        case (.some, nil):
            throw CredentialError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        case (nil, .some):
            throw CredentialError("AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not")
        case (nil, nil):
            break
        }

        // 4. The container endpoint.
        let tokenFile = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        let token = value("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return ContainerCredentialProvider(
                url: "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative),
                authorizationToken: token, authorizationTokenFile: tokenFile, http: http, readFile: readFile)
        }
        if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            try checkContainerURL(full)
            return ContainerCredentialProvider(
                url: full, authorizationToken: token, authorizationTokenFile: tokenFile, http: http,
                readFile: readFile)
        }

        // 5. The instance metadata service.
        if value("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true" {
            throw CredentialError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in "
                    + "\(credentialsFile) or \(configFile), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or a "
                    + "container credentials URI (the instance metadata service is disabled)")
        }
        var endpoint = value("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        return InstanceMetadataCredentialProvider(endpoint: endpoint, http: http)
    }

    /// A full container URI over plain HTTP may only name the container agent's addresses or loopback, as the
    /// SDKs require: anything else would send the authorization token in the clear to another host.
    static func checkContainerURL(_ url: String) throws(CredentialError) {
        if url.hasPrefix("https://") { return }
        guard url.hasPrefix("http://") else {
            throw CredentialError("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http:// or https:// URL: \(url)")
        }
        var host = url.dropFirst("http://".count).prefix { $0 != "/" }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        // Literal addresses only (and localhost): a name such as 127.example.com could resolve anywhere.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let loopbackV4 = octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        let allowed =
            host == "localhost" || host == "::1" || loopbackV4 || host == "169.254.170.2"
            || host == "169.254.170.23" || host.lowercased() == "fd00:ec2::23"
        guard allowed else {
            throw CredentialError(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI over http:// must name a loopback address or the container "
                    + "agent (169.254.170.2, 169.254.170.23, fd00:ec2::23): \(url)")
        }
    }

    /// Reads a whole file as UTF-8; nil when it cannot be read.
    @Sendable package static func readFile(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
