namespace RootfsForge.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("rootfsforge: commands are being built");
        return args.Length == 0 ? 2 : 0;
    }
}
