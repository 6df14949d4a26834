"""A minimal, fast zip writer and reader for archives of ``.npy`` members.

Python's :mod:`zipfile` computes the CRC of every byte on the writing thread and copies data
several times when reading. Archives of large arrays spend most of their time there, so:

- the writer streams each array straight from its memory to the file while a second thread
  computes its CRC-32 (``zlib`` releases the GIL), then patches the CRC into the local header;
- the reader uses :mod:`zipfile` only to parse and validate the central directory, then reads
  stored (uncompressed) members with one ``readinto`` into the final array. Members that use
  compression (other writers may deflate) go through :mod:`zipfile` instead.

Only what metatensor archives need is written: stored members, zip64 extensions when sizes,
offsets or the member count need them.
"""

import concurrent.futures
import struct
import zipfile
import zlib

import numpy as np

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHI")
_END_RECORD = struct.Struct("<IHHHHIIH")
_ZIP64_END_RECORD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_LIMIT = 0xFFFFFFFF
# 2000-01-01 00:00:00 in DOS format, as metatensor writes it: archives are reproducible
_DOS_TIME, _DOS_DATE = 0x0000, 0x2821
# arrays smaller than this are not worth a thread hop for their CRC
_THREADED_CRC = 1 << 20


class FileError(ValueError):
    """A problem with one member of an archive (the message names the member)."""


def npy_header(array):
    """The ``.npy`` header (magic, version, dict) for a C-ordered ``array``."""
    descr = np.lib.format.dtype_to_descr(array.dtype)
    shape = tuple(int(s) for s in array.shape)
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    encoded = text.encode("latin1")
    # the total header (magic + version + length + text + padding + newline) is a multiple of
    # 64 bytes, so that the data that follows is aligned
    for version, length_format in (((1, 0), "<H"), ((2, 0), "<I")):
        prefix = 6 + 2 + struct.calcsize(length_format)
        padding = (-(prefix + len(encoded) + 1)) % 64
        size = len(encoded) + padding + 1
        if size < (1 << (8 * struct.calcsize(length_format))):
            return (
                b"\x93NUMPY" + bytes(version) + struct.pack(length_format, size)
                + encoded + b" " * padding + b"\n"
            )
    raise ValueError("array header too large")  # pragma: no cover


def _crc(header, data):
    return zlib.crc32(data, zlib.crc32(header))


class ZipWriter:
    """Write stored ``.npy`` members to a seekable binary ``file``."""

    def __init__(self, file):
        self._file = file
        self._entries = []
        self._start = file.tell()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            file.fileno()
            self._has_fileno = True
        except (AttributeError, OSError, ValueError):
            self._has_fileno = False

    def add_array(self, name, array):
        array = np.ascontiguousarray(array)
        if array.dtype.hasobject:
            raise TypeError(f"{name}: can not save arrays of Python objects")
        header = npy_header(array)
        data = memoryview(array).cast("B") if array.size else b""
        self._add(name, header, data, array)

    def add_bytes(self, name, content):
        self._add(name, b"", content)

    def _add(self, name, header, data, array=None):
        encoded_name = name.encode("utf-8")
        size = len(header) + len(data)
        offset = self._file.tell() - self._start
        zip64 = size >= _LIMIT
        extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
        if len(data) >= _THREADED_CRC:
            crc = self._pool.submit(_crc, header, data)
        else:
            crc = _crc(header, data)
        self._file.write(_LOCAL_HEADER.pack(
            0x04034B50, 45 if zip64 else 20, 0x800, 0, _DOS_TIME, _DOS_DATE, 0,
            _LIMIT if zip64 else size, _LIMIT if zip64 else size,
            len(encoded_name), len(extra),
        ))
        self._file.write(encoded_name)
        self._file.write(extra)
        self._file.write(header)
        if array is not None and len(data) >= _THREADED_CRC and self._has_fileno:
            # numpy writes through the C stdio layer, ~3x faster than FileIO.write for
            # large buffers; it keeps the Python file position in sync
            array.tofile(self._file)
        else:
            self._file.write(data)
        if not isinstance(crc, int):
            crc = crc.result()
        end = self._file.tell()
        self._file.seek(self._start + offset + 14)
        self._file.write(struct.pack("<I", crc))
        self._file.seek(end)
        self._entries.append((encoded_name, crc, size, offset))

    def close(self):
        self._pool.shutdown()
        directory_start = self._file.tell() - self._start
        for name, crc, size, offset in self._entries:
            extra_values = []
            if size >= _LIMIT:
                extra_values += [size, size]
            if offset >= _LIMIT:
                extra_values.append(offset)
            extra = b""
            if extra_values:
                extra = struct.pack(f"<HH{len(extra_values)}Q", 1, 8 * len(extra_values),
                                    *extra_values)
            self._file.write(_CENTRAL_HEADER.pack(
                0x02014B50, (3 << 8) | 45, 45 if extra else 20, 0x800, 0, _DOS_TIME, _DOS_DATE,
                crc, min(size, _LIMIT), min(size, _LIMIT), len(name), len(extra), 0, 0, 0,
                0o100644 << 16,
            ) + struct.pack("<I", min(offset, _LIMIT)))
            self._file.write(name)
            self._file.write(extra)
        directory_end = self._file.tell() - self._start
        directory_size = directory_end - directory_start
        count = len(self._entries)
        if count >= 0xFFFF or directory_start >= _LIMIT or directory_size >= _LIMIT:
            self._file.write(_ZIP64_END_RECORD.pack(
                0x06064B50, 44, 45, 45, 0, 0, count, count, directory_size, directory_start))
            self._file.write(_ZIP64_LOCATOR.pack(0x07064B50, 0, directory_end, 1))
            self._file.write(_END_RECORD.pack(
                0x06054B50, 0, 0, 0xFFFF, 0xFFFF, _LIMIT, _LIMIT, 0))
        else:
            self._file.write(_END_RECORD.pack(
                0x06054B50, 0, 0, count, count, directory_size, directory_start, 0))


class ZipReader:
    """Read ``.npy`` members of a zip archive from a seekable binary ``file``."""

    def __init__(self, file, what):
        try:
            self._archive = zipfile.ZipFile(file, "r")
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{what} is not a valid archive: {error}") from None
        self._file = file
        self._infos = {info.filename: info for info in self._archive.infolist()}

    @property
    def names(self):
        return set(self._infos)

    def close(self):
        self._archive.close()

    def read_bytes(self, name):
        try:
            return self._archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise FileError(f"{name}: could not be read ({error})") from None

    def array(self, name):
        info = self._infos.get(name)
        if info is None:
            raise FileError(f"the archive has no member {name!r}")
        if info.compress_type != zipfile.ZIP_STORED:
            return self._array_through_zipfile(name)
        file = self._file
        try:
            file.seek(info.header_offset)
            local = file.read(_LOCAL_HEADER.size)
            if len(local) != _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
                raise FileError(f"{name}: bad local file header")
            fields = _LOCAL_HEADER.unpack(local)
            file.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
            data_start = file.tell()
            shape, dtype = _read_npy_header(file, name)
            array = np.empty(shape, dtype=dtype)
            header_size = file.tell() - data_start
            if header_size + array.nbytes != info.file_size:
                raise FileError(
                    f"{name}: the npy header announces {array.nbytes} bytes of data but the "
                    f"member holds {info.file_size - header_size}"
                )
            if array.nbytes:
                read = file.readinto(memoryview(array).cast("B"))
                if read != array.nbytes:
                    raise FileError(
                        f"{name}: truncated data, expected {array.nbytes} bytes, got {read}"
                    )
            return array
        except FileError:
            raise
        except (ValueError, OSError, EOFError, struct.error) as error:
            raise FileError(f"{name}: could not be read ({error})") from None

    def _array_through_zipfile(self, name):
        try:
            with self._archive.open(name) as member:
                shape, dtype = _read_npy_header(member, name)
                array = np.empty(shape, dtype=dtype)
                data = member.read(array.nbytes)
                if len(data) != array.nbytes:
                    raise FileError(
                        f"{name}: truncated data, expected {array.nbytes} bytes, got {len(data)}"
                    )
                if array.nbytes:
                    memoryview(array).cast("B")[:] = data
                return array
        except FileError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
            raise FileError(f"{name}: could not be read ({error})") from None


def _read_npy_header(file, name):
    try:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise FileError(f"{name}: unsupported npy format version {version}")
    except FileError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise FileError(f"{name}: not a valid npy member ({error})") from None
    if dtype.hasobject:
        raise FileError(f"{name}: arrays of Python objects are not allowed")
    if fortran:
        shape = tuple(shape[::-1])
        raise FileError(f"{name}: Fortran-ordered arrays are not supported in archives")
    return tuple(shape), dtype
