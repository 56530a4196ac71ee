#nullable enable
// MSBuild inline task (compiled by RoslynCodeTaskFactory): marks one GLIBCXX version requirement
// of an ELF64 little-endian shared library as weak, so the dynamic loader accepts the library on a
// host whose libstdc++ lacks that version. See TorchSharpGlibcxx.targets for why.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class MarkGlibcxxVersionWeak : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    [Required]
    public string Version { get; set; } = "";

    public override bool Execute()
    {
        string? hostLibrary = Array.Find(LibStdCxxCandidates, File.Exists);
        if (hostLibrary != null && Contains(File.ReadAllBytes(hostLibrary), Encoding.ASCII.GetBytes(Version + "\0")))
        {
            Log.LogMessage(MessageImportance.Low, "{0} provides {1}; no patch needed.", hostLibrary, Version);
            return true;
        }

        foreach (ITaskItem item in Files)
        {
            string path = item.GetMetadata("FullPath");
            byte[] image = File.ReadAllBytes(path);
            string? error;
            bool changed = TryMarkWeak(image, Version, out error);
            if (error != null)
            {
                Log.LogError("Cannot mark {0} weak in {1}: {2}", Version, path, error);
                return false;
            }
            if (!changed)
            {
                continue;
            }
            // Write a new file and move it over the old one: the output copy may be a hard link
            // into the NuGet cache, which must never change.
            string temporary = path + ".patching";
            File.WriteAllBytes(temporary, image);
            File.Delete(path);
            File.Move(temporary, path);
            Log.LogMessage(MessageImportance.Normal, "Marked {0} weak in {1} (host libstdc++ lacks it).", Version, path);
        }
        return true;
    }

    /// <summary>Sets VER_FLG_WEAK on the vernaux entry named <paramref name="version"/>. Returns
    /// true when the image changed; false when it was already weak or has no such entry.</summary>
    private static bool TryMarkWeak(byte[] image, string version, out string? error)
    {
        error = null;
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
        {
            error = "not an ELF file";
            return false;
        }
        if (image[4] != 2 || image[5] != 1)
        {
            error = "not a 64-bit little-endian ELF file";
            return false;
        }

        long sectionTable = (long)BitConverter.ToUInt64(image, 0x28);
        int sectionSize = BitConverter.ToUInt16(image, 0x3A);
        int sectionCount = BitConverter.ToUInt16(image, 0x3C);
        for (int i = 0; i < sectionCount; i++)
        {
            long header = sectionTable + (long)i * sectionSize;
            if (BitConverter.ToUInt32(image, (int)header + 4) != ShtGnuVerneed)
            {
                continue;
            }
            long verneed = (long)BitConverter.ToUInt64(image, (int)header + 0x18);
            int stringSection = (int)BitConverter.ToUInt32(image, (int)header + 0x28);
            int verneedCount = (int)BitConverter.ToUInt32(image, (int)header + 0x2C);
            long strings = (long)BitConverter.ToUInt64(image, (int)(sectionTable + (long)stringSection * sectionSize) + 0x18);

            long need = verneed;
            for (int n = 0; n < verneedCount; n++)
            {
                int auxCount = BitConverter.ToUInt16(image, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(image, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    long name = strings + BitConverter.ToUInt32(image, (int)aux + 8);
                    if (NameEquals(image, name, version))
                    {
                        ushort flags = BitConverter.ToUInt16(image, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0)
                        {
                            return false;
                        }
                        flags |= VerFlgWeak;
                        image[aux + 4] = (byte)flags;
                        image[aux + 5] = (byte)(flags >> 8);
                        return true;
                    }
                    aux += BitConverter.ToUInt32(image, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(image, (int)need + 12);
            }
        }
        return false;
    }

    private static bool NameEquals(byte[] image, long offset, string name)
    {
        for (int i = 0; i < name.Length; i++)
        {
            if (image[offset + i] != (byte)name[i])
            {
                return false;
            }
        }
        return image[offset + name.Length] == 0;
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }
            if (j == needle.Length)
            {
                return true;
            }
        }
        return false;
    }
}
