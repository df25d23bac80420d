def test_contact_round_trip(client):
    created = client.post('/contacts', json={
            'first_name': 'Ada', 'last_name': 'Lovelace',
            'email': 'ada@example.com'})

    assert created.status_code == 201, created.text
    contact = created.json()
    assert created.headers['Location'].endswith(f"/contacts/{contact['id']}")
    fetched = client.get(f"/contacts/{contact['id']}")
    assert fetched.json() == contact
    assert contact['name'] == 'Ada Lovelace'
    assert contact['email'] == 'ada@example.com'
