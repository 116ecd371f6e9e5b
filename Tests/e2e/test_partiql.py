"""PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction, and their effect on later reads."""

from e2e_support import create_table


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def test_execute_statement_crud(pair, name):
    create_table(pair, name)
    pair.ddb("execute_statement", Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'v': 1}}")
    pair.ddb("execute_statement", Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'b', 'v': 2}}")
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a")})["Item"]["v"] == N(1)
    r = pair.ddb("execute_statement", Statement=f"SELECT * FROM \"{name}\" WHERE pk = ?", Parameters=[S("b")])
    assert r["Items"] == [{"pk": S("b"), "v": N(2)}]
    r = pair.ddb("execute_statement", Statement=f"SELECT pk, v FROM \"{name}\"")
    assert sorted(i["pk"]["S"] for i in r["Items"]) == ["a", "b"]
    pair.ddb("execute_statement", Statement=f"UPDATE \"{name}\" SET v = ? WHERE pk = 'a'", Parameters=[N(10)])
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("a")})["Item"]["v"] == N(10)
    r = pair.ddb("execute_statement", Statement=f"SELECT * FROM \"{name}\" WHERE pk = 'a'")
    assert r["Items"][0]["v"] == N(10)
    pair.ddb("execute_statement", Statement=f"DELETE FROM \"{name}\" WHERE pk = 'a'")
    assert "Item" not in pair.ddb("get_item", TableName=name, Key={"pk": S("a")})
    r = pair.ddb("execute_statement", Statement=f"SELECT * FROM \"{name}\" WHERE pk = 'a'")
    assert r["Items"] == []
    # Errors: unknown table.
    pair.ddb_err("ResourceNotFoundException", "execute_statement",
                 Statement=f"SELECT * FROM \"{name}-missing\" WHERE pk = 'a'")


def test_batch_execute_statement(pair, name):
    create_table(pair, name)
    for k in ("x", "y"):
        pair.ddb("put_item", TableName=name, Item={"pk": S(k), "v": N(0)})
        pair.ddb("get_item", TableName=name, Key={"pk": S(k)})
    r = pair.ddb("batch_execute_statement", Statements=[
        {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'z', 'v': 5}}"},
        {"Statement": f"UPDATE \"{name}\" SET v = ? WHERE pk = 'x'", "Parameters": [N(7)]},
        {"Statement": f"DELETE FROM \"{name}\" WHERE pk = 'y'"},
        {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = ?", "Parameters": [S("x")]},
    ])
    assert len(r["Responses"]) == 4
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("x")})["Item"]["v"] == N(7)
    assert "Item" not in pair.ddb("get_item", TableName=name, Key={"pk": S("y")})
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("z")})["Item"]["v"] == N(5)


def test_execute_transaction(pair, name):
    create_table(pair, name)
    pair.ddb("put_item", TableName=name, Item={"pk": S("t1"), "v": N(1)})
    pair.ddb("get_item", TableName=name, Key={"pk": S("t1")})
    pair.ddb("execute_transaction", TransactStatements=[
        {"Statement": f"UPDATE \"{name}\" SET v = ? WHERE pk = 't1'", "Parameters": [N(2)]},
        {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 't2', 'v': 9}}"},
    ])
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("t1")})["Item"]["v"] == N(2)
    assert pair.ddb("get_item", TableName=name, Key={"pk": S("t2")})["Item"]["v"] == N(9)
    r = pair.ddb("execute_transaction", TransactStatements=[
        {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = 't1'"},
        {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = 't2'"},
    ])
    assert [x["Item"]["v"] for x in r["Responses"]] == [N(2), N(9)]
