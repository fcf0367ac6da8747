/*
 * rt_widgets._speedups: the per-element passes of batch ingest, in C.
 *
 * Each function has a pure-Python twin with the same contract in rt_widgets/_batch.py (the
 * reference, used when this module is not built or RT_WIDGETS_PURE_PYTHON is set); the tests run
 * both on the same inputs. Each returns None, having changed nothing, when its input needs the
 * element-by-element path (which reports what is wrong with it). No Python code runs inside a
 * loop: every key compared is an exact str.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static PyObject *str_type;    /* "type" */
static PyObject *str_payload; /* "payload" */

/* Whether two exact str objects are equal (no Python code runs). */
static inline int
same_str(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) {
        return 0;
    }
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
}

/*
 * group_by_type(data: list) -> (types, objects, payloads) | None
 *
 * For a decoded array frame whose every element is a dict with a str "type": the distinct types
 * in order of first appearance, and for each type the list of its envelopes and the list of their
 * "payload" values (None where absent), in frame order. None for any other element.
 */
static PyObject *
group_by_type(PyObject *Py_UNUSED(module), PyObject *data)
{
    if (!PyList_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "group_by_type expects a list");
        return NULL;
    }
    PyObject *types = PyList_New(0);
    PyObject *objects = PyList_New(0);
    PyObject *payloads = PyList_New(0);
    PyObject *result = NULL;
    if (types == NULL || objects == NULL || payloads == NULL) {
        goto done;
    }
    PyObject *last_type = NULL; /* borrowed: kept alive by its envelope, in data */
    PyObject *group_objects = NULL, *group_payloads = NULL; /* borrowed from objects/payloads */
    Py_ssize_t n = PyList_GET_SIZE(data);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(data, i);
        if (!PyDict_CheckExact(obj)) {
            goto none;
        }
        PyObject *kind = PyDict_GetItemWithError(obj, str_type);
        if (kind == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            goto none;
        }
        if (!PyUnicode_CheckExact(kind)) {
            goto none;
        }
        if (last_type == NULL || !same_str(kind, last_type)) {
            Py_ssize_t count = PyList_GET_SIZE(types), j;
            for (j = 0; j < count; j++) {
                if (same_str(kind, PyList_GET_ITEM(types, j))) {
                    break;
                }
            }
            if (j == count) {
                PyObject *new_objects = PyList_New(0);
                PyObject *new_payloads = PyList_New(0);
                int failed = new_objects == NULL || new_payloads == NULL
                    || PyList_Append(types, kind) < 0
                    || PyList_Append(objects, new_objects) < 0
                    || PyList_Append(payloads, new_payloads) < 0;
                Py_XDECREF(new_objects);
                Py_XDECREF(new_payloads);
                if (failed) {
                    goto done;
                }
            }
            group_objects = PyList_GET_ITEM(objects, j);
            group_payloads = PyList_GET_ITEM(payloads, j);
            last_type = kind;
        }
        PyObject *payload = PyDict_GetItemWithError(obj, str_payload);
        if (payload == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            payload = Py_None;
        }
        if (PyList_Append(group_objects, obj) < 0 || PyList_Append(group_payloads, payload) < 0) {
            goto done;
        }
    }
    result = PyTuple_Pack(3, types, objects, payloads);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(types);
    Py_XDECREF(objects);
    Py_XDECREF(payloads);
    return result;
}

#define FIELD_CACHE 64

/*
 * coalesce_rows(rows: list, key: str, fields: set) -> (last, full) | None
 *
 * For queued table rows that are all dicts holding `key` (a hashable value) and only fields in
 * `fields`: `last` maps each key to its last row, keys in order of first appearance (what
 * dict(zip(keys, rows)) gives), and `full` says whether each of those last rows holds every field
 * (len(row) == len(fields)). None for any other row.
 */
static PyObject *
coalesce_rows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyUnicode_CheckExact(args[1])
            || !PyAnySet_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "coalesce_rows expects (list, str, set)");
        return NULL;
    }
    PyObject *rows = args[0], *key = args[1], *fields = args[2];
    /* The fields of the previous row, by position: the rows of one feed usually share their key
     * objects (orjson caches them), so most fields are checked by one pointer comparison. */
    PyObject *seen[FIELD_CACHE] = {NULL};
    PyObject *last = PyDict_New();
    if (last == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyDict_CheckExact(row)) {
            goto none;
        }
        Py_ssize_t pos = 0, index = 0;
        PyObject *name, *value;
        while (PyDict_Next(row, &pos, &name, &value)) {
            if (index < FIELD_CACHE && seen[index] == name) {
                index++;
                continue;
            }
            if (!PyUnicode_CheckExact(name)) {
                goto none; /* not a field name a feed sends: the row-by-row path */
            }
            int known = PySet_Contains(fields, name);
            if (known < 0) {
                goto error;
            }
            if (!known) {
                goto none;
            }
            if (index < FIELD_CACHE) {
                seen[index] = name;
            }
            index++;
        }
        PyObject *k = PyDict_GetItemWithError(row, key);
        if (k == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            goto none;
        }
        if (PyDict_SetItem(last, k, row) < 0) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) { /* an unhashable key */
                PyErr_Clear();
                goto none;
            }
            goto error;
        }
    }
    Py_ssize_t width = PySet_GET_SIZE(fields), pos = 0;
    PyObject *k, *row;
    int full = 1;
    while (PyDict_Next(last, &pos, &k, &row)) {
        if (PyDict_GET_SIZE(row) != width) {
            full = 0;
            break;
        }
    }
    PyObject *result = Py_BuildValue("(NO)", last, full ? Py_True : Py_False);
    return result;
none:
    Py_DECREF(last);
    Py_RETURN_NONE;
error:
    Py_DECREF(last);
    return NULL;
}

/* Whether a metrics value is one: an exact int, or an exact float that is finite. */
static inline int
is_number(PyObject *value)
{
    if (PyFloat_CheckExact(value)) {
        return isfinite(PyFloat_AS_DOUBLE(value));
    }
    return PyLong_CheckExact(value);
}

/*
 * metric_columns(payloads: list, names: tuple[str, ...]) -> list[list[int | float]] | None
 *
 * For metrics payloads that are all dicts holding exactly the series `names` with finite int or
 * float values (exact types: a bool is not a number here): one list of values per name, in
 * payload order. None for any other payload.
 */
static PyObject *
metric_columns(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "metric_columns expects (list, tuple)");
        return NULL;
    }
    PyObject *payloads = args[0], *names = args[1];
    Py_ssize_t width = PyTuple_GET_SIZE(names), n = PyList_GET_SIZE(payloads);
    if (width == 0) {
        Py_RETURN_NONE;
    }
    for (Py_ssize_t j = 0; j < width; j++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(names, j))) {
            Py_RETURN_NONE;
        }
    }
    PyObject **columns = PyMem_Calloc((size_t)width, sizeof(PyObject *));
    if (columns == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    for (Py_ssize_t j = 0; j < width; j++) {
        if ((columns[j] = PyList_New(n)) == NULL) {
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *payload = PyList_GET_ITEM(payloads, i);
        if (!PyDict_CheckExact(payload) || PyDict_GET_SIZE(payload) != width) {
            goto none;
        }
        Py_ssize_t pos = 0, j = 0;
        PyObject *name, *value;
        /* In the order of `names` (the common case: every payload built alike)... */
        while (PyDict_Next(payload, &pos, &name, &value)) {
            PyObject *want = PyTuple_GET_ITEM(names, j);
            if (name != want && !(PyUnicode_CheckExact(name) && same_str(name, want))) {
                break;
            }
            if (!is_number(value)) {
                goto none;
            }
            PyList_SET_ITEM(columns[j], i, Py_NewRef(value));
            j++;
        }
        if (j == width) {
            continue;
        }
        /* ...or looked up by name (no Python code runs: every name is an exact str). */
        for (; j < width; j++) {
            value = PyDict_GetItemWithError(payload, PyTuple_GET_ITEM(names, j));
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    goto done;
                }
                goto none;
            }
            if (!is_number(value)) {
                goto none;
            }
            PyList_SET_ITEM(columns[j], i, Py_NewRef(value));
        }
    }
    result = PyList_New(width);
    if (result != NULL) {
        for (Py_ssize_t j = 0; j < width; j++) {
            PyList_SET_ITEM(result, j, columns[j]);
            columns[j] = NULL;
        }
    }
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    /* A column left unfilled by an early exit holds NULLs, which list deallocation skips. */
    for (Py_ssize_t j = 0; j < width; j++) {
        Py_XDECREF(columns[j]);
    }
    PyMem_Free(columns);
    return result;
}

static PyMethodDef methods[] = {
    {"group_by_type", (PyCFunction)group_by_type, METH_O,
     "An array frame's envelopes and payloads grouped by type, or None."},
    {"coalesce_rows", (PyCFunction)(void (*)(void))coalesce_rows, METH_FASTCALL,
     "Each key's last table row and whether all of them are whole, or None."},
    {"metric_columns", (PyCFunction)(void (*)(void))metric_columns, METH_FASTCALL,
     "Metrics payloads as one column of values per series, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rt_widgets._speedups",
    .m_doc = "The per-element passes of batch ingest, in C (see rt_widgets/_batch.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    str_type = PyUnicode_InternFromString("type");
    str_payload = PyUnicode_InternFromString("payload");
    if (str_type == NULL || str_payload == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
