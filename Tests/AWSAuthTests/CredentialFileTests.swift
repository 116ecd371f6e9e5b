import Testing

@testable import AWSAuth

@Suite struct INIFileTests {
    @Test func readsSectionsKeysCommentsAndNestedSettings() throws {
        let file = try INIFile(
            parsing: """
                # a comment
                [default]
                aws_access_key_id = AKID
                aws_secret_access_key=secret/with+chars=
                ; another
                s3 =
                  addressing_style = path
                region = eu-west-1

                [profile other]\r
                region = us-east-1
                """)
        #expect(file.sections.map(\.name) == ["default", "profile other"])
        let first = file.section("default")!
        #expect(first.value("aws_secret_access_key") == "secret/with+chars=")
        #expect(first.value("addressing_style") == nil)
        #expect(first.value("region") == "eu-west-1")
        #expect(file.section("profile other")?.value("region") == "us-east-1")
    }

    @Test func namesTheLineOfWhatItCannotRead() {
        #expect(throws: INIFile.ParseError(line: 1, reason: "a setting before the first [section]")) {
            try INIFile(parsing: "key = value")
        }
        #expect(throws: INIFile.ParseError(line: 2, reason: "expected key = value")) {
            try INIFile(parsing: "[a]\njust words")
        }
        #expect(throws: INIFile.ParseError(line: 1, reason: "unclosed section header")) {
            try INIFile(parsing: "[a")
        }
    }
}

@Suite struct ClientCredentialsTests {
    @Test func readsClientsWithTheirRules() throws {
        let clients = try ClientCredentials(
            parsing: """
                [orders]
                aws_access_key_id = AKIAORDERS
                aws_secret_access_key = s1
                tables = orders, orders-archive-*
                access = readwrite

                [reporting]
                aws_access_key_id = AKIAREPORT
                aws_secret_access_key = s2
                access = read
                """)
        let orders = try #require(clients.byAccessKeyID["AKIAORDERS"])
        #expect(orders.name == "orders" && orders.access == .readwrite)
        #expect(orders.allows(table: "orders") && orders.allows(table: "orders-archive-2026"))
        #expect(!orders.allows(table: "orders-x") && !orders.allows(table: "order"))
        let reporting = try #require(clients.byAccessKeyID["AKIAREPORT"])
        #expect(reporting.access == .read && reporting.tables == nil && reporting.allows(table: "anything"))
        #expect(!"\(reporting)".contains("s2"))  // no secret in its description
    }

    @Test(arguments: [
        ("[a]\naws_access_key_id = K\n", "no aws_secret_access_key"),
        ("[a]\naws_secret_access_key = S\n", "no aws_access_key_id"),
        ("[a]\naws_access_key_id = K\naws_secret_access_key = S\ntable = t\n", "unknown setting table"),
        (
            "[a]\naws_access_key_id = K\naws_secret_access_key = S\naccess = write\n",
            "access must be read, readwrite or admin"
        ),
        (
            "[a]\naws_access_key_id = K\naws_secret_access_key = S\naccess = read\naccess = admin\n",
            "access given twice"
        ),
        ("[a]\naws_access_key_id = K\naws_secret_access_key =\n  access = read\n", "an indented setting"),
        (
            "[a]\naws_access_key_id = K\naws_secret_access_key = S\n[b]\naws_access_key_id = K\naws_secret_access_key = T\n",
            "reuses the access key id of [a]"
        ),
        (
            "[a]\naws_access_key_id = K\naws_secret_access_key = S\n[a]\naws_access_key_id = L\naws_secret_access_key = T\n",
            "a second section [a]"
        ),
        ("[a]\naws_access_key_id = K\naws_secret_access_key = S\ntables = ,\n", "tables names no table"),
    ])
    func refusesWhatCouldGrantMoreThanMeant(text: String, reason: String) {
        do {
            _ = try ClientCredentials(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }
}
