#if FUZZING
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif

    /// The `main` of a fuzz executable built with -sanitize=fuzzer -DFUZZING. SwiftPM links every executable's
    /// entry point in as `main` (`--defsym main=<module>_main`, so that tests can link executables), which leaves
    /// libFuzzer's own main unused: the executable's @main hands over to libFuzzer's driver instead.
    package enum LibFuzzerDriver {
        package static func main(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runDriver(&argc, &argv, target))
        }
    }

    /// libFuzzer's entry for programs with a main of their own (ships in libclang_rt.fuzzer). Declared with
    /// `@_extern(c)` for the C calling convention; ops/fuzz.sh enables the Extern feature for it.
    @_extern(c, "LLVMFuzzerRunDriver")
    private func runDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif
